/** `arrakis/client` against a real control plane with comfy-lite: submit, read, wait, download, errors. */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArrakisClient, ArrakisError } from 'arrakis/client';
import {
  createTenant,
  delayWorkflow,
  invertWorkflow,
  loadInvertWorkflow,
  solidPng,
  startTestServer,
  type TestServer,
} from '../support/server.js';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ settings: { comfyLite: 1 } });
});
afterAll(async () => {
  await server.close();
});

async function userClient(userId = 'alice', account: Record<string, unknown> = {}): Promise<ArrakisClient> {
  const t = await createTenant(server, account);
  return new ArrakisClient({ baseUrl: server.url, apiKey: t.key, userId });
}

describe('ArrakisClient jobs', () => {
  it('creates a job, waits for it, downloads its output and lists it', async () => {
    const c = await userClient();
    const job = await c.jobs.create({ workflow: invertWorkflow(0x202020, 4) }, { idempotencyKey: 'k-1' });
    expect(job.status).toBe('queued');
    const again = await c.jobs.create({ workflow: invertWorkflow(0x202020, 4) }, { idempotencyKey: 'k-1' });
    expect(again.id).toBe(job.id);
    const done = await c.jobs.wait(job.id, { timeoutMs: 20_000 });
    expect(done.status).toBe('completed');
    expect(done.outputs).toHaveLength(1);
    const bytes = await c.outputs.download(job.id, 0);
    const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
    expect(info.width).toBe(4);
    expect(data[0]).toBe(0xff - 0x20);
    expect((await c.jobs.get(job.id)).finished_at).toBe(done.finished_at);
    const page = await c.jobs.list({ status: 'completed', limit: 10 });
    expect(page.data.map((j) => j.id)).toContain(job.id);
    const usage = await c.usage();
    expect(usage).toMatchObject({ user_id: 'alice', active_jobs: 0, jobs_today: 1 });
  });

  it('uploads Uint8Array and Blob inputs as multipart', async () => {
    const c = await userClient();
    const png = new Uint8Array(await solidPng(3, 2, [10, 20, 30]));
    const job = await c.jobs.create({ workflow: loadInvertWorkflow('photo') }, { inputs: { photo: png } });
    const done = await c.jobs.wait(job.id, { timeoutMs: 20_000 });
    expect(done.status).toBe('completed');
    const { data, info } = await sharp(await c.outputs.download(job.id, 0))
      .raw()
      .toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([3, 2]);
    expect([...data.subarray(0, 3)]).toEqual([245, 235, 225]);

    const blobJob = await c.jobs.create(
      { workflow: loadInvertWorkflow('pic') },
      { inputs: { pic: new Blob([png], { type: 'image/png' }) } },
    );
    expect((await c.jobs.wait(blobJob.id, { timeoutMs: 20_000 })).status).toBe('completed');
  });

  it('cancels a running job and reports it cancelled', async () => {
    const c = await userClient();
    const job = await c.jobs.create({ workflow: delayWorkflow(30) });
    for await (const e of c.jobs.stream(job.id))
      if (e.event === 'status' && e.data.status === 'running') break;
    const cancelled = await c.jobs.cancel(job.id);
    expect(cancelled.cancel_requested).toBe(true);
    expect((await c.jobs.wait(job.id, { timeoutMs: 20_000 })).status).toBe('cancelled');
  });

  it('throws ArrakisError with status, code, detail and retryAfter', async () => {
    const c = await userClient('bob', { limits: { max_active_jobs_per_user: 1 } });
    const missing = await c.jobs.get('job_nope').catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ArrakisError);
    expect(missing).toMatchObject({ status: 404, code: 'not_found' });

    const slow = await c.jobs.create({ workflow: delayWorkflow(30) });
    const limited = await c.jobs.create({ workflow: invertWorkflow() }).catch((e: unknown) => e);
    expect(limited).toMatchObject({ status: 429, code: 'quota_exceeded' });
    expect((limited as ArrakisError).retryAfter).toBeGreaterThan(0);
    expect((limited as ArrakisError).detail).not.toBe('');
    await c.jobs.cancel(slow.id);
    await c.jobs.wait(slow.id, { timeoutMs: 20_000 });

    const invalid = await c.jobs
      .create({ workflow: { '1': { class_type: 'Nope', inputs: {} } } })
      .catch((e) => e);
    expect(invalid).toMatchObject({ status: 422, code: 'workflow_invalid' });
    expect((invalid as ArrakisError).problem?.node_ids).toEqual(['1']);

    const timeout = await c.jobs
      .wait((await c.jobs.create({ workflow: delayWorkflow(30) })).id, { timeoutMs: 300 })
      .catch((e) => e);
    expect(timeout).toMatchObject({ status: 0, code: 'timeout' });

    const offline = new ArrakisClient({ baseUrl: 'http://127.0.0.1:1', apiKey: 'k', userId: 'u' });
    expect(await offline.jobs.get('x').catch((e) => e)).toMatchObject({ status: 0, code: 'network_error' });
  });

  it('types a request as exactly one of workflow or template (checked by tsc)', () => {
    const c = new ArrakisClient({ baseUrl: 'http://127.0.0.1:1', apiKey: 'k', userId: 'u' });
    // @ts-expect-error a request names a workflow or a template, not both
    const both = (): unknown => c.jobs.create({ workflow: {}, template: 'x' });
    // @ts-expect-error a request names one of them
    const neither = (): unknown => c.jobs.create({ priority: 1 });
    expect([typeof both, typeof neither]).toEqual(['function', 'function']);
  });

  it('authenticates with a bearer JWT instead of key + user', async () => {
    const { SignJWT } = await import('jose');
    const secret = 's'.repeat(40);
    const t = await createTenant(server, {
      jwt: { issuer: 'me', audience: 'arrakis', algorithms: ['HS256'], secret },
    });
    void t;
    const token = await new SignJWT({ scope: 'workflows:raw' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('carol')
      .setIssuer('me')
      .setAudience('arrakis')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(secret));
    const c = new ArrakisClient({ baseUrl: server.url, token });
    const job = await c.jobs.create({ workflow: invertWorkflow() });
    expect(job.user_id).toBe('carol');
  });
});
