/** `ArrakisAdmin` against a real control plane: accounts, keys, templates, worker tokens, workers, usage. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArrakisAdmin, ArrakisClient, ArrakisError } from 'arrakis/client';
import { ADMIN_KEY, invertWorkflow, startTestServer, type TestServer } from '../support/server.js';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ settings: { comfyLite: 1 } });
});
afterAll(async () => {
  await server.close();
});

describe('ArrakisAdmin', () => {
  it('manages accounts, keys and templates; the minted key works with ArrakisClient', async () => {
    const admin = new ArrakisAdmin({ baseUrl: server.url, adminKey: ADMIN_KEY });
    const account = await admin.accounts.create({ name: 'acme', limits: { max_active_jobs_per_user: 2 } });
    expect(account.webhook_secret).toMatch(/^whsec_/);
    expect(account.limits.max_active_jobs_per_user).toBe(2);
    expect((await admin.accounts.list()).map((a) => a.id)).toContain(account.id);
    const updated = await admin.accounts.update(account.id, { name: 'acme2' });
    expect(updated.name).toBe('acme2');
    expect((await admin.accounts.get(account.id)).name).toBe('acme2');
    const rotated = await admin.accounts.rotateWebhookSecret(account.id, 60);
    expect(rotated.webhook_secret).not.toBe(account.webhook_secret);

    const key = await admin.keys.create(account.id, { name: 'backend' });
    expect(key.scopes).toEqual(['jobs:write', 'jobs:read', 'workflows:raw']);
    const template = await admin.templates.put({
      name: 'invert',
      workflow: invertWorkflow() as never,
      params: [{ name: 'color', node: '1', input: 'color', type: 'integer', default: 0 }],
    });
    expect(template.params_schema).toBeTypeOf('object');
    expect((await admin.templates.list()).map((t) => t.name)).toContain('invert');

    const c = new ArrakisClient({ baseUrl: server.url, apiKey: key.key, userId: 'u1' });
    const job = await c.jobs.create({ template: 'invert', params: { color: 5 } }, { wait: 10 });
    expect(job.status).toBe('completed');
    const usage = await admin.accounts.usage(account.id);
    expect(usage.jobs).toBe(1);

    expect((await admin.keys.list(account.id))[0]?.last_used_at).not.toBeNull();
    await admin.keys.revoke(key.id);
    expect(await c.jobs.get(job.id).catch((e) => e)).toMatchObject({ status: 401, code: 'unauthorized' });
    await admin.templates.delete('invert');
    expect(await admin.templates.delete('invert').catch((e) => e)).toMatchObject({
      status: 404,
      code: 'not_found',
    });
  });

  it('issues and revokes worker tokens and lists workers', async () => {
    const admin = new ArrakisAdmin({ baseUrl: server.url, adminKey: ADMIN_KEY });
    const token = await admin.workerTokens.create({ name: 'gpu-1' });
    expect(token.pool).toBe('default');
    expect(token.token.length).toBeGreaterThan(20);
    await admin.workerTokens.revoke(token.id);
    const workers = await admin.workers.list();
    expect(workers.some((w) => w.kind === 'inprocess')).toBe(true);
  });

  it('a wrong admin key throws ArrakisError 401', async () => {
    const admin = new ArrakisAdmin({ baseUrl: server.url, adminKey: 'wrong-admin-key-000000' });
    const err = await admin.accounts.list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArrakisError);
    expect(err).toMatchObject({ status: 401, code: 'unauthorized' });
  });
});
