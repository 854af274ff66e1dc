import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { describe, expect, it, vi } from 'vitest';
import { register, runSimulate, SimulateOptions } from '../../src/cli/simulate.js';

const CONTRACT_KEYS = [
  'name',
  'peak_p95_wait_s',
  'p95_wait_s',
  'gpu_seconds',
  'lower_bound_gpu_seconds',
  'cost_ratio',
  'cold_starts',
  'model_loads',
  'model_fetches',
  'max_workers',
];

function fixture(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sim-cli-'));
  const lines = ['timestamp,duration_s,user,model'];
  // Monday 2026-01-05 from 13:00 UTC: inside the default and the given peak window.
  for (let i = 0; i < 60; i++) {
    const at = new Date(Date.UTC(2026, 0, 5, 13, 0, i * 20)).toISOString().replace('.000Z', '');
    lines.push(`${at},${15 + (i % 7)},u${i % 5},"m${i % 3}, v1.safetensors"`);
  }
  lines.push('2026-01-05T13:30:00,0,zero,m0');
  writeFileSync(join(dir, 'trace.csv'), `${lines.join('\n')}\n`);
  writeFileSync(join(dir, 'loads.csv'), 'seconds\n20\n25\n30\n');
  writeFileSync(
    join(dir, 'fleet.yaml'),
    'pools:\n  gpu:\n    provider: static\n    static: { urls: ["http://10.0.0.1:8188"] }\n' +
      '    max: 3\n    scale_down_s: 15\n    price_per_gpu_second: 0.001\n' +
      '    vram_gb: 24\n    model_size_gb: { checkpoint: 6.5 }\n    disk_cache_models: 4\n    boot_s: 9\n',
  );
  return dir;
}

describe('arrakis simulate', () => {
  it('parses its flags and writes the --out JSON in the CONTRACT shape', async () => {
    const dir = fixture();
    const program = new Command('arrakis').exitOverride();
    register(program);
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      await program.parseAsync(
        [
          'simulate',
          ...['--trace', join(dir, 'trace.csv'), '--skip-invalid'],
          ...['--boot-s', '10', '--load-samples', join(dir, 'loads.csv'), '--disk-load-s', '2'],
          ...['--disk-cache-models', '2', '--vram-models', '1', '--peak', 'Mon-Fri 09:00-18:00'],
          ...['--seed', '3', '--out', join(dir, 'r.json'), '--svg', join(dir, 'c.svg')],
        ],
        { from: 'user' },
      );
    } finally {
      out.mockRestore();
    }
    const json = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8')) as {
      workload: Record<string, unknown>;
      scenarios: Array<Record<string, unknown>>;
    };
    expect(json.workload).toMatchObject({
      jobs: 60,
      skipped_rows: 1,
      models: 3,
      peak: 'peak Mon-Fri 09:00-18:00',
    });
    const names = json.scenarios.map((s) => s.name);
    expect(names).toContain('arrakis autoscaler');
    expect(names).toContain('modal reactive 60s');
    for (const s of json.scenarios) {
      for (const key of CONTRACT_KEYS) expect(s, `${String(s.name)}.${key}`).toHaveProperty(key);
      expect(s.model_fetches as number).toBeLessThanOrEqual(s.model_loads as number);
    }
    const modal = json.scenarios.find((s) => s.name === 'modal reactive 60s')!;
    // Three models over 60 jobs with one resident per worker: the model-blind rule loads and fetches.
    expect(modal.model_loads as number).toBeGreaterThan(3);
    expect(modal.model_fetches as number).toBeGreaterThan(0);
    expect(modal.lower_bound_gpu_seconds).toBe(json.workload.lower_bound_gpu_seconds);
    const svg = readFileSync(join(dir, 'c.svg'), 'utf8');
    for (const name of names) expect(svg).toContain(String(name));
  });

  it('refuses a bad trace row without --skip-invalid, naming the line', async () => {
    const dir = fixture();
    await expect(runSimulate({ trace: join(dir, 'trace.csv') }, () => undefined)).rejects.toThrow(
      /trace line 62:/,
    );
  });

  it('takes the model tiers from the fleet file, the flags winning', async () => {
    const dir = fixture();
    const printed: string[] = [];
    const report = await runSimulate(
      { trace: join(dir, 'trace.csv'), skipInvalid: true, fleet: join(dir, 'fleet.yaml'), diskLoadS: 3 },
      (l) => printed.push(l),
    );
    // vram_gb 24 / 6.5 GB per checkpoint = 3 resident; disk 4 and boot 9 from the file; disk load 3 from the flag.
    expect(printed.join('\n')).toContain(
      'boot 9 s, fetch median 23 s, disk load 3 s, 4 files on disk, 3 resident',
    );
    expect(report.scenarios[0]?.description).toContain('max 3, buffer 0, scale-down 15 s');
    expect(report.scenarios[0]?.cost).toBeCloseTo((report.scenarios[0]?.gpuSeconds ?? 0) * 0.001, 6);
  });

  it('adds the clairvoyant reference as a labelled last row only when asked', async () => {
    const dir = fixture();
    const trace = {
      ...{ trace: join(dir, 'trace.csv'), skipInvalid: true, bootS: 10, diskCacheModels: 4, vramModels: 3 },
      loadSamples: join(dir, 'loads.csv'),
    };
    const plain = await runSimulate(trace, () => undefined);
    expect(plain.scenarios.map((s) => s.name)).not.toContain('clairvoyant reference');
    const printed: string[] = [];
    const report = await runSimulate({ ...trace, clairvoyant: true }, (l) => printed.push(l));
    expect(report.scenarios.length).toBe(plain.scenarios.length + 1);
    const last = report.scenarios[report.scenarios.length - 1]!;
    expect(last.name).toBe('clairvoyant reference');
    expect(printed.join('\n')).toContain('clairvoyant reference: NOT A RUNNABLE POLICY');
    // Knowing every job, it starts each worker just in time and bills less than the autoscaler.
    expect(last.gpuSeconds).toBeLessThan(report.scenarios[0]!.gpuSeconds);
  });

  it('runs the autoscaler without spares outside --latency-hours (or the fleet file’s latency_hours)', async () => {
    const dir = fixture();
    const trace = { trace: join(dir, 'trace.csv'), skipInvalid: true, bootS: 10, planningHorizonS: 60 };
    const quiet = () => undefined;
    const gpuS = async (extra: object) =>
      (await runSimulate({ ...trace, ...extra }, quiet)).scenarios[0]?.gpuSeconds ?? 0;
    const allHours = await gpuS({});
    // The trace runs 13:00-13:20 on a Monday: outside 14-18 the pool keeps no spares; inside 12-18 it does.
    const outside = await gpuS({ latencyHours: 'Mon-Fri 14:00-18:00' });
    expect(outside).toBeLessThan(allHours);
    expect(await gpuS({ latencyHours: 'Mon-Fri 12:00-18:00' })).toBe(allHours);
    writeFileSync(
      join(dir, 'hours.yaml'),
      'pools:\n  gpu:\n    provider: static\n    static: { urls: ["http://10.0.0.1:8188"] }\n' +
        '    max: 20\n    scale_down_s: 0\n    latency_hours: "Mon-Fri 14:00-18:00"\n',
    );
    expect(await gpuS({ fleet: join(dir, 'hours.yaml') })).toBe(outside);
    await expect(gpuS({ latencyHours: 'lunch' })).rejects.toThrow(
      /^--latency-hours "lunch": expected days and hours/,
    );
  });

  it('takes --prefetch-cover (or the fleet file’s prefetch_cover) for the autoscaler and refuses a negative one', async () => {
    const dir = fixture();
    const trace = {
      ...{ trace: join(dir, 'trace.csv'), skipInvalid: true, bootS: 10, diskCacheModels: 4, vramModels: 3 },
      loadSamples: join(dir, 'loads.csv'),
    };
    const quiet = () => undefined;
    const tuned = (await runSimulate(trace, quiet)).scenarios[0]!;
    const none = (await runSimulate({ ...trace, prefetchCover: 0 }, quiet)).scenarios[0]!;
    expect(tuned.description).not.toContain('prefetch cover');
    expect(none.description).toContain('prefetch cover 0');
    expect(none.modelFetches).toBeLessThanOrEqual(tuned.modelFetches);
    writeFileSync(
      join(dir, 'cover.yaml'),
      'pools:\n  gpu:\n    provider: static\n    static: { urls: ["http://10.0.0.1:8188"] }\n' +
        '    max: 20\n    scale_down_s: 0\n    prefetch_cover: 0\n',
    );
    const fromFile = (await runSimulate({ ...trace, fleet: join(dir, 'cover.yaml') }, quiet)).scenarios[0]!;
    expect(fromFile.description).toContain('prefetch cover 0');
    expect(fromFile.modelFetches).toBe(none.modelFetches);
    expect(() => SimulateOptions.parse({ prefetchCover: '-1' })).toThrow();
  });

  it('turns target_p95_wait_s into the cheapest planning horizon that meets it', async () => {
    const dir = fixture();
    writeFileSync(
      join(dir, 'target.yaml'),
      'pools:\n  gpu:\n    provider: static\n    static: { urls: ["http://10.0.0.1:8188"] }\n' +
        '    max: 3\n    scale_down_s: 0\n    boot_s: 10\n    target_p95_wait_s: 1000\n',
    );
    const printed: string[] = [];
    await runSimulate(
      {
        trace: join(dir, 'trace.csv'),
        skipInvalid: true,
        fleet: join(dir, 'target.yaml'),
        out: join(dir, 'r.json'),
      },
      (l) => printed.push(l),
    );
    const json = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8')) as {
      horizon_search: {
        recommended_planning_horizon_s: number;
        points: Array<{ cost_ratio: number; planning_horizon_s: number }>;
      };
    };
    const { points, recommended_planning_horizon_s: chosen } = json.horizon_search;
    expect(points.length).toBeGreaterThan(3);
    // Every horizon meets a 1000 s target here, so the cheapest one is chosen.
    const cheapest = [...points].sort((a, b) => a.cost_ratio - b.cost_ratio)[0];
    expect(chosen).toBe(cheapest?.planning_horizon_s);
    expect(printed.join('\n')).toContain(`set planning_horizon_s: ${chosen}`);
  });
});
