/**
 * Models end to end through serve with comfy-lite: job JSON shows its model files, admin workers show what
 * each worker can load, holds and keeps on disk, a registered file no worker has is fetched (sha256 checked,
 * a corrupt download refused and retried) and the job runs, an unknown file is refused 422, and affinity
 * keeps each model loaded at most once per worker through a 40-job mix.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startComfyLite, type ComfyLiteServer } from '../../src/comfy-lite/server.js';
import { txt2img, writeModels } from '../support/models.js';
import {
  client,
  createTenant,
  isTerminal,
  startTestServer,
  waitForJob,
  type TestServer,
} from '../support/server.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Waits until every worker has reported models and `ok` holds for the admin list. */
async function workersWhere(
  server: TestServer,
  ok: (ws: any[]) => boolean,
  timeoutMs = 15_000,
): Promise<any[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await server.admin('GET', '/v1/admin/workers');
    if (r.status === 200 && ok(r.body.data)) return r.body.data;
    if (Date.now() > deadline) throw new Error(`workers never matched: ${JSON.stringify(r.body)}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

describe('model registry, cache and placement', () => {
  let root: string;
  let lite: ComfyLiteServer;
  let server: TestServer;
  let files: Server;
  let filesUrl: string;
  const served: string[] = [];
  const good = Buffer.from('the weights of a fetched checkpoint');
  const flaky = Buffer.from('weights that arrive corrupt once');
  let c: ReturnType<typeof client>;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'arrakis-models-'));
    await writeModels(join(root, 'models'), { 'checkpoints/local.safetensors': 'local weights' });
    lite = await startComfyLite({ port: 0, modelsDir: join(root, 'models') });
    // The model source: /good serves the right bytes; /flaky serves corrupt bytes on its first request.
    files = createServer((req, res) => {
      served.push(req.url ?? '');
      if (req.url === '/good') return res.end(good);
      if (req.url === '/flaky') {
        const first = served.filter((u) => u === '/flaky').length === 1;
        return res.end(first ? Buffer.from(flaky).fill(0x41, 0, 4) : flaky);
      }
      res.statusCode = 404;
      res.end();
    });
    await new Promise<void>((r) => files.listen(0, '127.0.0.1', r));
    const addr = files.address();
    filesUrl = `http://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}`;
    server = await startTestServer({ settings: { comfyui: [lite.url], modelsDir: join(root, 'models') } });
    const t = await createTenant(server, { limits: { max_active_jobs_per_user: 50 } });
    c = client(server, t.key, 'alice');
    await workersWhere(
      server,
      (ws) => ws.length === 1 && ws[0].models_available.includes('local.safetensors'),
    );
  });
  afterAll(async () => {
    await server?.close();
    await lite?.close();
    await new Promise((r) => files?.close(r));
    await rm(root, { recursive: true, force: true });
  });

  it('job JSON lists its models; admin workers show available, warm, on-disk and switch counts', async () => {
    const r = await c.submit({ workflow: txt2img('local.safetensors') });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    expect(r.body.models).toEqual([{ kind: 'checkpoint', name: 'local.safetensors' }]);
    const job = await waitForJob(c, r.body.id, isTerminal);
    expect(job.status, JSON.stringify(job.error)).toBe('completed');
    expect(job.models).toEqual([{ kind: 'checkpoint', name: 'local.safetensors' }]);
    const [w] = await workersWhere(server, (ws) => ws[0]?.models_warm.includes('local.safetensors'));
    expect(w).toMatchObject({
      models_available: ['local.safetensors'],
      models_warm: ['local.safetensors'],
      models_on_disk: ['local.safetensors'],
      model_switches: 0,
    });
  });

  it('a file on no worker and not registered is refused 422 model_unavailable naming it', async () => {
    const r = await c.submit({ workflow: txt2img('nowhere.safetensors') });
    expect(r.status).toBe(422);
    expect(r.body.code).toBe('model_unavailable');
    expect(r.body.detail).toContain('nowhere.safetensors');
    expect(r.body.model).toEqual({ kind: 'checkpoint', name: 'nowhere.safetensors' });
  });

  it('a registered file no worker has is fetched, checked and the job runs', async () => {
    expect((await c.submit({ workflow: txt2img('fetched.safetensors') })).status).toBe(422);
    const reg = await server.admin('POST', '/v1/admin/models', {
      name: 'fetched.safetensors',
      kind: 'checkpoint',
      url: `${filesUrl}/good`,
      sha256: sha(good),
      size: good.length,
    });
    expect(reg.status, JSON.stringify(reg.body)).toBe(201);
    expect((await server.admin('GET', '/v1/admin/models')).body.data.map((m: any) => m.name)).toEqual([
      'fetched.safetensors',
    ]);
    const r = await c.submit({ workflow: txt2img('fetched.safetensors') });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    const job = await waitForJob(c, r.body.id, isTerminal);
    expect(job.status, JSON.stringify(job.error)).toBe('completed');
    expect(existsSync(join(root, 'models/checkpoints/fetched.safetensors'))).toBe(true);
    const [w] = await workersWhere(server, (ws) => ws[0]?.models_on_disk.includes('fetched.safetensors'));
    expect(w.models_warm).toEqual(['fetched.safetensors']);
    expect(w.model_switches).toBe(1);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/arrakis_model_loads_total\{tier="fetch"\} 1/);
  });

  it('a corrupted download is refused, deleted and retried', async () => {
    const reg = await server.admin('POST', '/v1/admin/models', {
      name: 'flaky.safetensors',
      kind: 'checkpoint',
      url: `${filesUrl}/flaky`,
      sha256: sha(flaky),
      size: flaky.length,
    });
    expect(reg.status).toBe(201);
    const r = await c.submit({ workflow: txt2img('flaky.safetensors') });
    const job = await waitForJob(c, r.body.id, isTerminal);
    expect(job.status, JSON.stringify(job.error)).toBe('completed');
    expect(served.filter((u) => u === '/flaky')).toHaveLength(2);
    const left = readdirSync(join(root, 'models/checkpoints'));
    expect(left.sort()).toEqual(['fetched.safetensors', 'flaky.safetensors', 'local.safetensors']);
  });

  it("the fleet prefetch hook puts a registered file on an idle worker's disk", async () => {
    const reg = await server.admin('POST', '/v1/admin/models', {
      name: 'soon.safetensors',
      kind: 'checkpoint',
      url: `${filesUrl}/good`,
      sha256: sha(good),
      size: good.length,
    });
    expect(reg.status).toBe(201);
    const [w] = await workersWhere(server, () => true);
    await server.cp.store.setWorkerPrefetch(w.id, [{ kind: 'checkpoint', name: 'soon.safetensors' }]);
    // The agent hears the request at its next report: after a job, or after an idle claim wait.
    const r = await c.submit({ workflow: txt2img('local.safetensors') });
    await waitForJob(c, r.body.id, isTerminal);
    await workersWhere(server, (ws) => ws[0]?.models_on_disk.includes('soon.safetensors'));
    expect(existsSync(join(root, 'models/checkpoints/soon.safetensors'))).toBe(true);
    expect((await server.cp.store.getWorker(w.id))?.models?.prefetch).toEqual([]);
  });

  it('a file whose every download is corrupt fails the job model_fetch_failed', async () => {
    const reg = await server.admin('POST', '/v1/admin/models', {
      name: 'bad.safetensors',
      kind: 'checkpoint',
      url: `${filesUrl}/good`,
      sha256: '0'.repeat(64),
      size: good.length,
    });
    expect(reg.status).toBe(201);
    const r = await c.submit({ workflow: txt2img('bad.safetensors') });
    const job = await waitForJob(c, r.body.id, isTerminal);
    expect(job.status).toBe('failed');
    expect(job.error.code).toBe('model_fetch_failed');
    expect(existsSync(join(root, 'models/checkpoints/bad.safetensors'))).toBe(false);
    expect((await server.admin('DELETE', '/v1/admin/models/bad.safetensors')).status).toBe(204);
  });
});

describe('affinity through serve with two comfy-lite workers', () => {
  let root: string;
  const lites: ComfyLiteServer[] = [];
  let server: TestServer;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'arrakis-affinity-'));
    await writeModels(join(root, 'models'), {
      'checkpoints/A.safetensors': 'a',
      'checkpoints/B.safetensors': 'b',
    });
    for (let i = 0; i < 2; i++)
      lites.push(await startComfyLite({ port: 0, modelsDir: join(root, 'models'), modelLoadMs: 300 }));
    // A generous bound: this test is about loads, not the bound (test/store/models.test.ts covers it).
    server = await startTestServer({
      settings: { comfyui: lites.map((l) => l.url), affinityMaxDelaySeconds: 120 },
    });
    await workersWhere(server, (ws) => ws.length === 2 && ws.every((w) => w.models_available.length === 2));
  });
  afterAll(async () => {
    await server?.close();
    for (const l of lites) await l.close();
    await rm(root, { recursive: true, force: true });
  });

  it('40 mixed jobs at once: each model loaded at most once per worker', async () => {
    const loads = lites.map(() => [] as string[]);
    lites.forEach((l, i) => l.events.on('load', (e: { name: string }) => loads[i]?.push(e.name)));
    const t = await createTenant(server, {
      limits: { max_active_jobs_per_user: 50, submit_rate_per_user: 1000, submit_burst_per_user: 1000 },
    });
    const users = ['u1', 'u2', 'u3', 'u4'].map((u) => client(server, t.key, u));
    const submitted = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        users[i % 4]!.submit({ workflow: txt2img(i % 2 === 0 ? 'A.safetensors' : 'B.safetensors') }),
      ),
    );
    for (const [i, r] of submitted.entries()) {
      const job = await waitForJob(users[i % 4]!, r.body.id, isTerminal, 60_000);
      expect(job.status).toBe('completed');
    }
    for (const l of loads) {
      for (const name of new Set(l))
        expect(
          l.filter((n) => n === name),
          JSON.stringify(loads),
        ).toHaveLength(1);
    }
    const ws = await workersWhere(server, () => true);
    expect(ws.reduce((s: number, w: any) => s + w.model_switches, 0)).toBeLessThanOrEqual(2);
  }, 90_000);
});
