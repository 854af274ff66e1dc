/**
 * The live model plan's preloads with real processes: `serve --fleet` runs one comfy-lite worker
 * (`--model-load-ms`, `--cache-lru`) holding one model in VRAM, with three checkpoints on its disk and a warm-up
 * workflow that loads a checkpoint. After the day's jobs made one model the most wanted while the worker's last
 * job left another resident, the idle worker loads the wanted one from its disk by itself: the decision log
 * names the preload and the admin workers list it in `models_warm`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { txt2img, writeModels } from '../support/models.js';
import { ARRAKIS_BIN } from '../support/processes.js';
import {
  client,
  createTenant,
  isTerminal,
  startTestServer,
  waitForJob,
  type TestServer,
} from '../support/server.js';
import { until } from '../support/until.js';

const WANTED = 'wanted.safetensors';
const OTHER = 'other.safetensors';
let root = '';
let server: TestServer | null = null;

/** One process worker; its warm-up loads `base.safetensors` and samples one step. */
function fleetFile(): string {
  const warmup = {
    workflow: {
      '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'base.safetensors' } },
      '2': {
        class_type: 'ArrakisSample',
        inputs: { model: ['1', 0], width: 16, height: 16, steps: 1, seconds_per_step: 0, seed: 1 },
      },
      '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'warmup' } },
    },
  };
  const command =
    `${process.execPath} ${ARRAKIS_BIN} comfy-lite --port {port} --models-dir {models_dir}` +
    ' --model-load-ms 300 --cache-lru 16';
  const file = join(root, 'fleet.yaml');
  writeFileSync(
    file,
    [
      'pools:',
      '  local:',
      '    provider: process',
      '    min: 1',
      '    max: 1',
      '    scale_down_s: 600',
      '    cold_start_s: 2',
      '    vram_models: 1',
      '    disk_cache_models: 4',
      `    warmup: ${JSON.stringify(warmup)}`,
      '    process:',
      `      command: ${JSON.stringify(command)}`,
      `      models_dir: ${JSON.stringify(join(root, 'host'))}`,
      '      model_cache_gb: 1',
      '',
    ].join('\n'),
  );
  return file;
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'arrakis-fleet-preload-'));
  await writeModels(join(root, 'host'), {
    'checkpoints/base.safetensors': 'base',
    [`checkpoints/${WANTED}`]: 'wanted',
    [`checkpoints/${OTHER}`]: 'other',
  });
  server = await startTestServer({ settings: { comfyLite: 0, fleet: fleetFile() } });
});

afterAll(async () => {
  await server?.close();
  if (root !== '') rmSync(root, { recursive: true, force: true });
});

describe('the live fleet preloads models', () => {
  it('loads the most wanted model from an idle worker’s disk into VRAM', { timeout: 120_000 }, async () => {
    const s = server!;
    const workers = async (): Promise<any[]> =>
      (await s.admin('GET', '/v1/admin/workers')).body.data.filter((w: any) => w.pool === 'local');
    await until('the fleet worker listing its models', workers, (ws) =>
      ws.some((w) => w.models_available.includes(WANTED)),
    );
    const t = await createTenant(s);
    // Three jobs for the wanted model, then one for another: that one is left resident (one model in VRAM).
    for (const [i, model] of [WANTED, WANTED, WANTED, OTHER].entries()) {
      const c = client(s, t.key, `user-${i}`);
      const job = await c.submit({ workflow: txt2img(model) });
      expect(job.status, JSON.stringify(job.body)).toBe(202);
      const done = await waitForJob(c, job.body.id, isTerminal, 60_000);
      expect(done.status, JSON.stringify(done.error)).toBe('completed');
    }
    const [w] = await until('the wanted model resident again', workers, (ws) =>
      ws.some((x) => x.models_warm.includes(WANTED) && x.status === 'idle'),
    );
    expect(w.models_warm).toEqual([WANTED]);
    const decisions = await s.admin('GET', '/v1/admin/fleet/decisions?pool=local');
    const reasons: string[] = decisions.body.data.map((d: any) => d.reason);
    expect(
      reasons.some((r) => r.includes(`preload ${WANTED} → ${w.id}`)),
      reasons.join('\n'),
    ).toBe(true);
    const fleet = await s.admin('GET', '/v1/admin/fleet');
    expect(fleet.body.pools[0].model_plan.preload).toContainEqual({ worker: w.id, model: WANTED });
  });
});
