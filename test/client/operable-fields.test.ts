/**
 * `arrakis/client` reads issue 13's fields with its own types: the templates an account may run (its own and the
 * global ones), progress with the node class and the whole-prompt fraction, output types, and ComfyUI's refused
 * inputs in a failed job's `error.details`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArrakisAdmin, ArrakisClient, type JobProgress } from 'arrakis/client';
import {
  ADMIN_KEY,
  createTenant,
  delayWorkflow,
  startTestServer,
  type TestServer,
} from '../support/server.js';

let server: TestServer;
let admin: ArrakisAdmin;

beforeAll(async () => {
  server = await startTestServer({ settings: { comfyLite: 1 } });
  admin = new ArrakisAdmin({ baseUrl: server.url, adminKey: ADMIN_KEY });
});
afterAll(async () => {
  await server.close();
});

async function userClient(userId: string): Promise<{ c: ArrakisClient; accountId: string }> {
  const t = await createTenant(server);
  return { c: new ArrakisClient({ baseUrl: server.url, apiKey: t.key, userId }), accountId: t.accountId };
}

const square = {
  '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
  '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'sq' } },
};

describe('ArrakisClient and issue 13 fields', () => {
  it("lists the account's own and the global templates, never another account's", async () => {
    const alice = await userClient('alice');
    const bob = await userClient('bob');
    const size = {
      name: 'size',
      type: 'integer' as const,
      default: 8,
      targets: [
        { node: '1', input: 'width' },
        { node: '1', input: 'height' },
      ],
    };
    await admin.templates.put({ name: 'client-global', workflow: square as never, params: [size] });
    const owned = await admin.templates.put({
      name: 'client-alice',
      workflow: square as never,
      params: [size],
      account_id: alice.accountId,
    });
    expect(owned.account_id).toBe(alice.accountId);

    const mine = await alice.c.templates();
    const byName = new Map(mine.map((t) => [t.name, t]));
    expect(byName.get('client-alice')?.scope).toBe('account');
    expect(byName.get('client-global')).toMatchObject({
      scope: 'global',
      params_schema: { properties: { size: { type: 'integer', default: 8 } } },
    });
    const theirs = (await bob.c.templates()).map((t) => t.name);
    expect(theirs).toContain('client-global');
    expect(theirs).not.toContain('client-alice');
  });

  it('streams progress with the node class and a fraction that ends at 1; outputs carry their type', async () => {
    const { c } = await userClient('carol');
    const job = await c.jobs.create({ workflow: delayWorkflow(0.3) });
    const progress: JobProgress[] = [];
    for await (const e of c.jobs.stream(job.id)) {
      if (e.event === 'progress') progress.push(e.data);
      if (e.event === 'done') break;
    }
    const fractions = progress.map((p) => p.fraction);
    expect(fractions.every((f) => typeof f === 'number')).toBe(true);
    expect(fractions).toEqual([...fractions].sort((a, b) => (a ?? 0) - (b ?? 0)));
    expect(fractions.at(-1)).toBe(1);
    expect(progress.map((p) => p.class_type)).toContain('ArrakisDelay');
    const done = await c.jobs.get(job.id);
    expect(done.outputs.map((o) => o.type)).toEqual(['output']);
  });

  it('gives a job ComfyUI refused the inputs it named in error.details', async () => {
    const { c } = await userClient('dave');
    // A link of the wrong type passes submission (link types need RETURN_TYPES) and ComfyUI refuses it.
    const job = await c.jobs.create({
      workflow: {
        '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
        '2': {
          class_type: 'ArrakisSample',
          inputs: { model: ['1', 0], width: 16, height: 16, steps: 1, seed: 1, seconds_per_step: 0 },
        },
        '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'x' } },
      },
    });
    const failed = await c.jobs.wait(job.id, { timeoutMs: 20_000 });
    expect(failed.status).toBe('failed');
    expect(failed.error?.code).toBe('workflow_invalid');
    expect(failed.error?.details).toEqual([
      {
        node_id: '2',
        class_type: 'ArrakisSample',
        input: 'model',
        message: expect.stringContaining('Return type mismatch between linked nodes'),
      },
    ]);
  });
});
