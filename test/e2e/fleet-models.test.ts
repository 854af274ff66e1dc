/**
 * The live model plan with real processes: `serve --fleet` runs two comfy-lite workers, each with a model
 * cache in its own models folder; a registered model is served over HTTP with its sha256. A job for it lands
 * on one worker (fetched on demand); the fleet then prefetches the file onto the idle worker's disk before
 * any job needs it there, so the next job for it runs on that worker without another download.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { txt2img } from '../support/models.js';
import { writeComfyLiteFleet } from '../support/processes.js';
import {
  client,
  createTenant,
  isTerminal,
  startTestServer,
  waitForJob,
  type TestServer,
} from '../support/server.js';
import { until } from '../support/until.js';

const MODEL = 'hot.safetensors';
const bytes = Buffer.from('weights of the hot model');
let root = '';
let server: TestServer | null = null;
let files: Server | null = null;
let downloads = 0;

function fleetFile(): string {
  return writeComfyLiteFleet(
    root,
    { min: 2, max: 2, scale_down_s: 600, cold_start_s: 2, vram_models: 1, disk_cache_models: 4 },
    { models_dir: join(root, 'host-{worker}'), model_cache_gb: 1 },
    '--models-dir {models_dir}',
  );
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'arrakis-fleet-models-'));
  files = createServer((_req, res) => {
    downloads++;
    res.end(bytes);
  });
  await new Promise<void>((r) => files?.listen(0, '127.0.0.1', r));
  server = await startTestServer({ settings: { comfyLite: 0, fleet: fleetFile() } });
});

afterAll(async () => {
  await server?.close();
  await new Promise((r) => (files === null ? r(null) : files.close(r)));
  if (root !== '') rmSync(root, { recursive: true, force: true });
});

describe('the live fleet plans models', () => {
  it(
    'prefetches a wanted model onto an idle worker before a job needs it there',
    { timeout: 120_000 },
    async () => {
      const s = server!;
      const workers = async (): Promise<any[]> => (await s.admin('GET', '/v1/admin/workers')).body.data;
      // Both fleet workers up and reporting their (empty) models.
      await until(
        'two fleet workers reporting',
        workers,
        (ws) => ws.filter((w) => w.pool === 'local').length === 2,
      );
      const addr = files!.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      const reg = await s.admin('POST', '/v1/admin/models', {
        name: MODEL,
        kind: 'checkpoint',
        url: `http://127.0.0.1:${port}/${MODEL}`,
        sha256: createHash('sha256').update(bytes).digest('hex'),
        size: bytes.length,
      });
      expect(reg.status).toBe(201);

      const t = await createTenant(s);
      const alice = client(s, t.key, 'alice');
      const first = await alice.submit({ workflow: txt2img(MODEL, { steps: 40, secondsPerStep: 0.5 }) });
      expect(first.status, JSON.stringify(first.body)).toBe(202);
      await waitForJob(alice, first.body.id, (j) => j.status === 'running' || isTerminal(j), 60_000);

      // One job so far, running on one worker: the other has the file on its disk only by the fleet's prefetch.
      const ws = await until(
        'the model on both workers’ disks',
        workers,
        (list) => list.filter((w) => w.models_on_disk.includes(MODEL)).length === 2,
      );
      const idle = ws.find((w) => w.status === 'idle');
      expect(idle, JSON.stringify(ws)).toBeDefined();
      expect(idle.models_warm).toEqual([]);
      expect(existsSync(join(root, `host-${idle.id}`, 'checkpoints', MODEL))).toBe(true);
      expect(downloads).toBe(2);
      const running = await alice.get(first.body.id);
      expect(running.body.status).toBe('running');

      const decisions = await s.admin('GET', '/v1/admin/fleet/decisions?pool=local');
      const reasons: string[] = decisions.body.data.map((d: any) => d.reason);
      expect(
        reasons.some((r) => r.includes(`prefetch ${MODEL} → ${idle.id}`)),
        reasons.join('\n'),
      ).toBe(true);
      const fleet = await s.admin('GET', '/v1/admin/fleet');
      expect(fleet.body.pools[0].model_plan.prefetch).toContainEqual({ worker: idle.id, model: MODEL });

      // The next job for the model runs on the prefetched worker from its disk: no third download.
      const bob = client(s, t.key, 'bob');
      const second = await bob.submit({ workflow: txt2img(MODEL) });
      const done = await waitForJob(bob, second.body.id, isTerminal, 60_000);
      expect(done.status, JSON.stringify(done.error)).toBe('completed');
      expect(downloads).toBe(2);
      await alice.cancel(first.body.id);
    },
  );
});
