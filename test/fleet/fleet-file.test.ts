import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FleetConfigError, loadFleetFile, parseFleetFile } from '../../src/fleet/fleet-file.js';
import { resolveDefaultPool } from '../../src/runtime/known-pools.js';

const FULL = `
pools:
  modal-gpu:
    provider: modal
    gpu: [L40S, A10G]
    min: 0
    max: 12
    buffer: 1
    scale_down_s: 30
    price_per_gpu_second: 0.000542
    cold_start_s: 23
    max_cost_per_hour: 20
    schedules:
      - { days: weekdays, hours: "09-18", tz: "-05:00", min: 1 }
    modal: { app: arrakis-comfy, image: "ghcr.io/acme/comfyui:1.2", port: 8188, timeout_s: 3600 }
  local:
    provider: process
    max: 2
    process:
      command: "python main.py --listen 127.0.0.1 --port {port}"
      env: { CUDA_VISIBLE_DEVICES: "{gpu}" }
      gpus: ["0", "1"]
`;

function errorOf(text: string): string {
  try {
    parseFleetFile(text, 'fleet.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(FleetConfigError);
    return err instanceof Error ? err.message : '';
  }
  throw new Error('expected the fleet file to be rejected');
}

describe('fleet file', () => {
  it('parses pools with their providers, schedules and limits', () => {
    const { pools } = parseFleetFile(FULL);
    const [modal, local] = pools;
    expect(modal).toMatchObject({
      name: 'modal-gpu',
      provider: 'modal',
      gpus: ['L40S', 'A10G'],
      max: 12,
      buffer: 1,
      scaleDownMs: 30_000,
      coldStartMs: 23_000,
      maxCostPerHour: 20,
      modal: { app: 'arrakis-comfy', image: 'ghcr.io/acme/comfyui:1.2', port: 8188, timeoutMs: 3_600_000 },
    });
    expect(modal?.schedules[0]).toMatchObject({
      days: [1, 2, 3, 4, 5],
      startMinute: 540,
      endMinute: 1080,
      offsetMinutes: -300,
      min: 1,
      buffer: null,
    });
    expect(local).toMatchObject({
      provider: 'process',
      min: 0,
      scaleDownMs: 60_000,
      process: { gpus: ['0', '1'], env: { CUDA_VISIBLE_DEVICES: '{gpu}' } },
    });
    expect(Object.isFrozen(modal)).toBe(true);
  });

  it('names the field path and what is accepted', () => {
    expect(
      errorOf('pools:\n  a:\n    provider: static\n    static: { urls: ["http://x:1"] }\n    max: -1\n'),
    ).toContain('pools.a.max: max must be a whole number ≥ 0');
    expect(errorOf('pools:\n  a:\n    provider: docker\n')).toContain(
      'pools.a.provider: provider must be one of static, process, modal',
    );
    expect(errorOf('pools:\n  a:\n    provider: process\n')).toContain(
      'pools.a.process: required when provider is process',
    );
    expect(
      errorOf(
        'pools:\n  a:\n    provider: static\n    static: { urls: ["http://x:1"] }\n    schedules:\n      - { hours: "9am-5pm" }\n',
      ),
    ).toContain('pools.a.schedules.0.hours: hours must look like "09-18"');
    expect(
      errorOf(
        'pools:\n  a:\n    provider: static\n    static: { urls: ["http://x:1"] }\n    schedules:\n      - { hours: "09-17", tz: "CET" }\n',
      ),
    ).toContain('pools.a.schedules.0.tz: tz must be "UTC" or an offset');
    expect(
      errorOf('pools:\n  a:\n    provider: process\n    process: { command: "comfy --port 8188" }\n'),
    ).toContain('pools.a.process.command: command must contain {port}');
    expect(
      errorOf(
        'pools:\n  a:\n    provider: static\n    static: { urls: ["http://x:1"] }\n    min: 3\n    max: 2\n',
      ),
    ).toContain('pools.a.min: min 3 exceeds max 2');
    expect(
      errorOf('pools:\n  a:\n    provider: static\n    static: { urls: ["http://x:1"] }\n    colds: 3\n'),
    ).toContain('pools.a');
    expect(errorOf(FULL.replace('max: 2', 'max: 3'))).toContain(
      'pools.local.max: max 3 exceeds the 2 listed gpus',
    );
  });

  it('default_pool names one of the pools; the default pool is the setting, else it, else the first pool', () => {
    const named = parseFleetFile(`default_pool: local\n${FULL}`);
    expect(named.defaultPool).toBe('local');
    expect(resolveDefaultPool(undefined, named)).toBe('local');
    expect(resolveDefaultPool('other', named)).toBe('other');
    const unnamed = parseFleetFile(FULL);
    expect(unnamed.defaultPool).toBeNull();
    expect(resolveDefaultPool(undefined, unnamed)).toBe('modal-gpu');
    expect(resolveDefaultPool(undefined, null)).toBe('default');
    expect(resolveDefaultPool('gpu', null)).toBe('gpu');
    expect(errorOf(`default_pool: nowhere\n${FULL}`)).toContain(
      'default_pool: "nowhere" is not a pool of this file (pools: modal-gpu, local)',
    );
  });

  it('reports YAML syntax errors with the file name', () => {
    expect(errorOf('pools: [unclosed')).toMatch(/^fleet.yaml is not valid YAML/);
  });

  it('loads a warm-up workflow named by a path relative to the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleet-'));
    writeFileSync(join(dir, 'warm.json'), JSON.stringify({ '1': { class_type: 'EmptyImage', inputs: {} } }));
    writeFileSync(
      join(dir, 'fleet.yaml'),
      'pools:\n  a:\n    provider: static\n    static: { urls: ["http://x:1"] }\n    warmup: { workflow: warm.json }\n',
    );
    const { pools } = await loadFleetFile(join(dir, 'fleet.yaml'));
    expect(pools[0]?.warmup).toEqual({
      kind: 'inline',
      workflow: { '1': { class_type: 'EmptyImage', inputs: {} } },
    });
    writeFileSync(
      join(dir, 'bad.yaml'),
      'pools:\n  a:\n    provider: static\n    static: { urls: ["http://x:1"] }\n    warmup: { workflow: nope.json }\n',
    );
    await expect(loadFleetFile(join(dir, 'bad.yaml'))).rejects.toThrow(
      /pools\.a\.warmup\.workflow: cannot read/,
    );
  });
});

describe('fleet file model settings', () => {
  const pool = (extra: string) =>
    `pools:\n  gpu:\n    provider: static\n    static: { urls: ["http://10.0.0.1:8188"] }\n    max: 2\n${extra}`;

  it('derives resident models from vram_gb and the checkpoint size, and keeps the tiers and the trade-off', () => {
    const { pools } = parseFleetFile(
      pool(
        '    vram_gb: 140\n    model_size_gb: { checkpoint: 2.1, lora: 0.2 }\n    disk_cache_models: 32\n' +
          '    boot_s: 13\n    disk_load_s: 1.9\n    planning_horizon_s: 37\n    target_p95_wait_s: 10\n',
      ),
    );
    expect(pools[0]?.models).toEqual({
      vramGb: 140,
      modelSizeGb: { checkpoint: 2.1, lora: 0.2 },
      vramModels: 66,
      diskCacheModels: 32,
      bootS: 13,
      diskLoadS: 1.9,
      targetP95WaitS: 10,
    });
    expect(pools[0]?.planningHorizonS).toBe(37);
    expect(parseFleetFile(pool('    vram_models: 16\n')).pools[0]?.models?.vramModels).toBe(16);
    expect(parseFleetFile(pool('')).pools[0]?.models?.vramModels).toBeNull();
  });

  it('names the field path of bad model settings', () => {
    expect(errorOf(pool('    vram_gb: 24\n'))).toContain('pools.gpu.model_size_gb: required with vram_gb');
    expect(errorOf(pool('    vram_gb: 24\n    model_size_gb: 6.5\n    vram_models: 4\n'))).toContain(
      'pools.gpu.vram_models: vram_models 4 exceeds the 3 models of 6.5 GB that fit in 24 GB',
    );
    expect(errorOf(pool('    vram_models: 0\n'))).toContain(
      'pools.gpu.vram_models: vram_models must be at least 1',
    );
    expect(errorOf(pool('    disk_cache_models: -1\n'))).toContain(
      'pools.gpu.disk_cache_models: disk_cache_models must be a whole number ≥ 0',
    );
    expect(errorOf(pool('    model_size_gb: { ckpt: 2 }\n'))).toContain('pools.gpu.model_size_gb');
    expect(errorOf(pool('    target_p95_wait_s: 0\n'))).toContain('pools.gpu.target_p95_wait_s');
    expect(errorOf(pool('    session_copies: maybe\n'))).toContain('pools.gpu.session_copies');
  });

  it('reads latency_hours like --peak, and names the field of a bad one', () => {
    const hours = parseFleetFile(pool('    latency_hours: "Mon-Fri 09:00-18:00 +01:00"\n')).pools[0]
      ?.latencyHours;
    expect(hours).toMatchObject({
      days: [1, 2, 3, 4, 5],
      startMinute: 540,
      endMinute: 1080,
      offsetMinutes: 60,
    });
    expect(parseFleetFile(pool('')).pools[0]?.latencyHours).toBeNull();
    expect(errorOf(pool('    latency_hours: "office hours"\n'))).toContain(
      'pools.gpu.latency_hours: latency_hours "office hours": expected days and hours',
    );
    expect(errorOf(pool('    latency_hours: "Mon-Fri 09:75-18:00"\n'))).toContain(
      'pools.gpu.latency_hours: latency_hours "Mon-Fri 09:75-18:00": minutes must be 00-59',
    );
    expect(errorOf(pool('    latency_hours: 9\n'))).toContain('pools.gpu.latency_hours');
  });

  it('reads prefetch_cover (absent: the tuned default), and refuses a negative or non-number one', () => {
    expect(parseFleetFile(pool('    prefetch_cover: 2\n')).pools[0]?.prefetchCover).toBe(2);
    expect(parseFleetFile(pool('    prefetch_cover: 0\n')).pools[0]?.prefetchCover).toBe(0);
    expect(parseFleetFile(pool('')).pools[0]?.prefetchCover).toBeUndefined();
    expect(errorOf(pool('    prefetch_cover: -1\n'))).toContain('pools.gpu.prefetch_cover');
    expect(errorOf(pool('    prefetch_cover: lots\n'))).toContain('pools.gpu.prefetch_cover');
  });

  it('keeps session_copies and a process pool’s model cache folder', () => {
    expect(parseFleetFile(pool('    session_copies: true\n')).pools[0]?.sessionCopies).toBe(true);
    expect(parseFleetFile(pool('')).pools[0]?.sessionCopies).toBeUndefined();
    const local = parseFleetFile(
      'pools:\n  local:\n    provider: process\n    process:\n      command: "comfy --port {port} --models {models_dir}"\n' +
        '      models_dir: "/m/gpu{gpu}"\n      model_cache_gb: 50\n',
    ).pools[0]?.process;
    expect(local).toMatchObject({ modelsDir: '/m/gpu{gpu}', modelCacheGb: 50 });
  });

  it('refuses a models_dir two live workers of the pool would share (their caches would evict each other)', () => {
    const local = (max: number, dir: string, gpus = '') =>
      `pools:\n  local:\n    provider: process\n    max: ${max}\n    process:\n` +
      `      command: "comfy --port {port}"\n      models_dir: "${dir}"\n${gpus}`;
    expect(errorOf(local(2, '/m/shared'))).toContain(
      'pools.local.process.models_dir: "/m/shared" would be the same folder for two workers of this pool (max 2)',
    );
    // {gpu} alone differs per worker only when gpus are listed (without them every worker's {gpu} is "").
    expect(errorOf(local(2, '/m/gpu{gpu}'))).toContain('pools.local.process.models_dir');
    expect(parseFleetFile(local(2, '/m/gpu{gpu}', '      gpus: ["0", "1"]\n')).pools).toHaveLength(1);
    expect(parseFleetFile(local(2, '/m/{worker}')).pools).toHaveLength(1);
    expect(parseFleetFile(local(1, '/m/shared')).pools).toHaveLength(1);
  });
});
