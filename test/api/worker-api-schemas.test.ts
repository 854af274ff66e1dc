/** The worker API validates on its route schemas: bad input is 400 validation_failed naming the field. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueWorkerToken } from '../../src/workers/worker-tokens.js';
import { WORKER_ID_HEADER } from '../../src/workers/worker-protocol.js';
import { workerRoutes } from '../../src/api/routes/workers.js';
import { createLocalBus } from '../../src/events/local-bus.js';
import { openStorage } from '../../src/media/storage/open-storage.js';
import type { Store } from '../../src/store/contract.js';
import { openMigratedStore } from '../../src/store/open.js';

let dir: string;
let store: Store;
let app: FastifyInstance;
let headers: Record<string, string>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'arrakis-worker-api-'));
  store = await openMigratedStore(`sqlite:${join(dir, 'db')}`);
  app = Fastify();
  const storage = openStorage(`file:${join(dir, 'objects')}`);
  await app.register(
    workerRoutes({ store, storage, bus: createLocalBus(), leaseMs: 30_000, maxAttempts: 3 }),
    {
      prefix: '/v1/worker',
    },
  );
  const { token } = await issueWorkerToken(store, 'w', 'default');
  headers = { authorization: `Bearer ${token}` };
  const registered = await app.inject({
    method: 'POST',
    url: '/v1/worker/register',
    headers,
    payload: { name: 'w' },
  });
  expect(registered.statusCode).toBe(201);
  headers[WORKER_ID_HEADER] = (registered.json() as { worker_id: string }).worker_id;
});

afterAll(async () => {
  await app.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

function fieldsOf(body: unknown): string[] {
  return ((body as { errors?: Array<{ path: string }> }).errors ?? []).map((e) => e.path);
}

describe('worker API route schemas', () => {
  it('refuses a body that breaks the schema, naming the field', async () => {
    const r = await app.inject({
      method: 'POST',
      url: '/v1/worker/register',
      headers,
      payload: { name: '' },
    });
    expect(r.statusCode).toBe(400);
    expect(r.json()).toMatchObject({ code: 'validation_failed' });
    expect(fieldsOf(r.json())).toContain('body.name');
    const status = await app.inject({
      method: 'POST',
      url: '/v1/worker/status',
      headers,
      payload: { status: 'napping' },
    });
    expect(status.statusCode).toBe(400);
    expect(fieldsOf(status.json())).toContain('body.status');
    const wait = await app.inject({
      method: 'POST',
      url: '/v1/worker/claim',
      headers,
      payload: { wait_ms: 10_000_000 },
    });
    expect(wait.statusCode).toBe(400);
    expect(fieldsOf(wait.json())).toContain('body.wait_ms');
  });

  it('refuses bad path and query parameters', async () => {
    const badId = await app.inject({ method: 'POST', url: '/v1/worker/jobs/bad%20id/heartbeat', headers });
    expect(badId.statusCode).toBe(400);
    const badWait = await app.inject({ url: '/v1/worker/jobs/job_1/cancel?wait_ms=soon', headers });
    expect(badWait.statusCode).toBe(400);
    expect(fieldsOf(badWait.json()).join()).toContain('wait_ms');
  });

  it('the model report is validated on its schema; a valid one is recorded and answers the prefetch list', async () => {
    const report = { available: ['a.safetensors'], warm: [], on_disk: [], can_fetch: false };
    const bad = await app.inject({
      method: 'POST',
      url: '/v1/worker/models',
      headers,
      payload: { ...report, model_switches: -1 },
    });
    expect(bad.statusCode).toBe(400);
    expect(fieldsOf(bad.json())).toContain('body.model_switches');
    const ok = await app.inject({
      method: 'POST',
      url: '/v1/worker/models',
      headers,
      payload: { ...report, model_switches: 2 },
    });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ prefetch: [] });
    const worker = await store.getWorker(headers[WORKER_ID_HEADER] ?? '');
    expect(worker?.models).toMatchObject({ available: ['a.safetensors'], switches: 2 });
    const unknown = await app.inject({ url: '/v1/worker/models/none.safetensors', headers });
    expect(unknown.statusCode).toBe(404);
    expect((await app.inject({ method: 'POST', url: '/v1/worker/models' })).statusCode).toBe(401);
  });

  it('a model report naming prefetch_failed drops that ask and keeps the others', async () => {
    const id = headers[WORKER_ID_HEADER] ?? '';
    const asks = [
      { kind: 'checkpoint' as const, name: 'gone.safetensors' },
      { kind: 'lora' as const, name: 'fine.safetensors' },
    ];
    await store.setWorkerPrefetch(id, asks);
    const report = { available: [], warm: [], on_disk: [], can_fetch: true, model_switches: 0 };
    const r = await app.inject({
      method: 'POST',
      url: '/v1/worker/models',
      headers,
      payload: { ...report, prefetch_failed: ['gone.safetensors'] },
    });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ prefetch: [asks[1]] });
    expect((await store.getWorker(id))?.models?.prefetch).toEqual([asks[1]]);
  });

  it('a claim with no body at all uses the defaults (no wait) and finds nothing', async () => {
    const r = await app.inject({ method: 'POST', url: '/v1/worker/claim', headers });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ job: null });
  });
});
