import { describe, expect, it } from 'vitest';
import { decide } from '../../src/fleet/autoscaler.js';
import { reactiveDecide } from '../../src/fleet/reactive.js';
import { simulate, type Scenario, type SimInput } from '../../src/fleet/simulator/engine.js';
import { ModelSet } from '../../src/fleet/simulator/model-set.js';
import { DEFAULT_TIERS, type ModelTiers } from '../../src/fleet/simulator/model-tiers.js';
import { planModels } from '../../src/fleet/model-plan.js';
import { DEFAULT_AUTOSCALER_POOL, standardScenarios } from '../../src/fleet/simulator/scenarios.js';
import { loadModel, newWorker } from '../../src/fleet/simulator/sim-worker.js';
import { SYNTHETIC_START, syntheticWorkload, type SimJob } from '../../src/fleet/simulator/workload.js';

const T0 = Date.UTC(2026, 0, 5, 13);
const TIERS: ModelTiers = {
  ...DEFAULT_TIERS,
  bootS: 10,
  fetchS: () => 20,
  fetchMedianS: 20,
  diskLoadS: 2,
  diskCacheModels: 4,
  vramModels: 2,
};

function counters() {
  return { modelLoads: 0, modelFetches: 0, switches: 0 };
}

/** One always-on worker (min 1, max 1) under a given policy, for hand-built traces. */
function onePool(name: string, affinityMaxDelayMs: number | null): Scenario {
  return {
    name,
    description: name,
    policy: reactiveDecide,
    pool: { ...DEFAULT_AUTOSCALER_POOL, min: 1, max: 1, scaleDownMs: 60_000 },
    affinityMaxDelayMs,
  };
}

function input(jobs: SimJob[], tiers: ModelTiers = TIERS): SimInput {
  return { jobs, startAt: T0 - 60_000, endAt: T0 + 3_600_000, seed: 1, tiers };
}

const job = (atS: number, durationS: number, user: string, model: string | null): SimJob => ({
  at: T0 + atS * 1000,
  durationS,
  user,
  model,
});

describe('model tiers', () => {
  it('costs nothing from VRAM, a disk load from disk, a fetch plus a load otherwise', () => {
    const c = counters();
    const w = newWorker('w', T0, TIERS, null, new ModelSet(TIERS.diskCacheModels));
    expect(loadModel(w, 'a', TIERS, T0, Math.random, c)).toBe(22);
    expect(loadModel(w, 'a', TIERS, T0, Math.random, c)).toBe(0);
    expect(loadModel(w, 'b', TIERS, T0, Math.random, c)).toBe(22);
    expect(loadModel(w, 'c', TIERS, T0, Math.random, c)).toBe(22); // evicts a from VRAM (2 resident)
    expect(loadModel(w, 'a', TIERS, T0, Math.random, c)).toBe(2); // still on disk
    expect(loadModel(w, null, TIERS, T0, Math.random, c)).toBe(0);
    expect(c).toEqual({ modelLoads: 4, modelFetches: 3, switches: 3 });
  });

  it('with no disk cache every load that misses VRAM is a fetch', () => {
    const tiers = { ...TIERS, diskCacheModels: 0, vramModels: 1 };
    const c = counters();
    const w = newWorker('w', T0, tiers, null, new ModelSet(0));
    for (const m of ['a', 'b', 'a', 'a', 'b']) loadModel(w, m, tiers, T0, Math.random, c);
    expect(c).toEqual({ modelLoads: 4, modelFetches: 4, switches: 3 });
  });

  it('keeps LRU sets within their bound and evicts the least recently used', () => {
    const s = new ModelSet(3);
    for (const m of ['a', 'b', 'c']) expect(s.add(m)).toBeNull();
    s.touch('a');
    expect(s.add('d')).toBe('b');
    expect(s.list()).toEqual(['c', 'a', 'd']);
    expect(s.size).toBe(3);
    const none = new ModelSet(0);
    expect(none.add('a')).toBeNull();
    expect(none.has('a')).toBe(false);
  });

  it('waits count the model load: a job on a worker without its model starts after the fetch', () => {
    const out = simulate(
      input([job(0, 5, 'u1', 'a'), job(30, 5, 'u2', 'a'), job(60, 5, 'u3', 'b')]),
      onePool('p', null),
    );
    // The always-on worker has been up since before the first job: fetch (20) + load (2); then VRAM; then b.
    expect(Array.from(out.waitS)).toEqual([22, 0, 22]);
    expect(Array.from(out.loadS)).toEqual([22, 0, 22]);
    expect(out).toMatchObject({ modelLoads: 2, modelFetches: 2, switches: 1 });
  });

  it('keeps the host files for the next worker on it: a restart loads from disk instead of fetching', () => {
    const scenario: Scenario = {
      ...onePool('p', null),
      pool: { ...DEFAULT_AUTOSCALER_POOL, min: 0, max: 1, scaleDownMs: 0 },
    };
    const out = simulate(input([job(0, 5, 'u1', 'a'), job(600, 5, 'u2', 'a')]), scenario);
    expect(out.coldStarts).toBe(2);
    // First: boot 10 + fetch 20 + load 2. Then a new worker on the same host: boot 10 + disk load 2.
    expect(Array.from(out.waitS)).toEqual([32, 12]);
    expect(out).toMatchObject({ modelLoads: 2, modelFetches: 1 });
  });

  it('runs finishes before arrivals at the same second: the freed worker takes the job, no new worker', () => {
    const scenario: Scenario = {
      ...onePool('p', null),
      pool: { ...DEFAULT_AUTOSCALER_POOL, min: 1, max: 2 },
    };
    const out = simulate(input([job(0, 10, 'u1', null), job(10, 5, 'u2', null)]), scenario);
    expect(Array.from(out.waitS)).toEqual([0, 0]);
    expect(out.coldStarts).toBe(1);
  });
});

describe('where a new worker starts', () => {
  // Two workers fetch a and b on two hosts and stop (b's host freed last); later a job for a arrives. The
  // reactive rule with the model plan (prefetch_cover 0: no background fetches) warms its new worker with a.
  const jobs = [job(0, 100, 'u1', 'a'), job(40, 100, 'u2', 'b'), job(600, 5, 'u3', 'a')];
  const pool = { ...DEFAULT_AUTOSCALER_POOL, min: 0, max: 2, scaleDownMs: 60_000, prefetchCover: 0 };
  const planned: Scenario = {
    name: 'planned',
    description: 'reactive + model plan',
    policy: (s, now) => planModels(s, reactiveDecide(s, now)),
    pool,
    affinityMaxDelayMs: 10_000,
  };

  it('starts a model-aware worker on the free host whose disk holds its first model: no fetch', () => {
    const seen: Array<ReadonlyArray<readonly string[]>> = [];
    const out = simulate(input(jobs), {
      ...planned,
      policy: (s, now) => {
        if (s.queued > 0 && s.models?.freeHosts?.length === 2) seen.push(s.models.freeHosts);
        return planned.policy(s, now);
      },
    });
    expect(out.coldStarts).toBe(3);
    // The plan saw both free hosts' files, b's host (freed last) last.
    expect(seen[0]).toEqual([['a'], ['b']]);
    // Boot 10 + a disk load 2 on a's host, where b's host (the most recently freed) would have fetched a.
    expect(out.waitS[2]).toBe(12);
    expect(out.modelFetches).toBe(2);
  });

  it('starts a model-blind worker on the most recently freed host, as before', () => {
    const out = simulate(input(jobs), { ...planned, affinityMaxDelayMs: null });
    expect(out.waitS[2]).toBe(10 + 22);
    expect(out.modelFetches).toBe(3);
  });
});

describe('affinity claim order', () => {
  // The worker holds model a and is busy when b (a fetch) and then a stream of jobs for a arrive.
  const jobs = [job(-40, 3, 'warm', 'a'), job(5, 10, 'busy', 'a'), job(10, 4, 'ub', 'b')];
  for (let i = 0; i < 12; i++) jobs.push(job(10.1 + i * 0.01, 4, `ua${i}`, 'a'));

  it('prefers a job whose model the free worker holds, but not past the bound', () => {
    const fair = simulate(input(jobs), onePool('fair', null));
    const affine = simulate(input(jobs), onePool('affine', 10_000));
    const b = 2;
    expect(fair.waitS[b]).toBeCloseTo(5 + 22, 6); // fair order: b is next when the worker frees at 15 s
    expect(affine.waitS[b]!).toBeGreaterThan(fair.waitS[b]!);
    // Passed over for at most the bound, then taken by the next free worker (jobs here run 4 s).
    expect(affine.waitS[b]! - fair.waitS[b]!).toBeLessThanOrEqual(10 + 4);
    // The jobs for the held model start sooner: the fetch no longer blocks them.
    const sum = (w: Float64Array) => w.slice(3).reduce((x, y) => x + y, 0);
    expect(sum(affine.waitS)).toBeLessThan(sum(fair.waitS) - 40);
  });

  it('with a bound of 0 keeps plain fair order', () => {
    const fair = simulate(input(jobs), onePool('fair', null));
    const zero = simulate(input(jobs), onePool('zero', 0));
    expect(Array.from(zero.waitS)).toEqual(Array.from(fair.waitS));
  });
});

describe('model-aware autoscaler in the simulator', () => {
  const tiers: ModelTiers = {
    ...TIERS,
    bootS: 13,
    fetchS: DEFAULT_TIERS.fetchS,
    fetchMedianS: 23,
    diskLoadS: 1.9,
    diskCacheModels: 8,
    vramModels: 4,
  };
  const days = 1;
  const week: SimInput = {
    jobs: syntheticWorkload({ days, seed: 2, models: 20, dau: 1000 }),
    startAt: SYNTHETIC_START,
    endAt: SYNTHETIC_START + days * 86_400_000,
    seed: 2,
    tiers,
  };
  const pool = { ...DEFAULT_AUTOSCALER_POOL, coldStartMs: 38_000 };
  const [mine, , modal] = standardScenarios(pool, { withModels: true });

  it('fetches fewer model files than the model-blind reactive rule', () => {
    const a = simulate(week, mine!);
    const b = simulate(week, modal!);
    expect(a.modelFetches).toBeLessThan(b.modelFetches);
    expect(b.modelLoads).toBeGreaterThan(0);
  });

  it('is deterministic for a seed, and the seed matters', () => {
    const a = simulate(week, mine!);
    const b = simulate(week, mine!);
    expect(Array.from(a.waitS)).toEqual(Array.from(b.waitS));
    expect(a.modelFetches).toBe(b.modelFetches);
    const c = simulate({ ...week, seed: 3 }, mine!);
    expect(Array.from(c.waitS)).not.toEqual(Array.from(a.waitS));
  });

  it('drives the same decide() as the live fleet, with the model view only for the model-aware scenario', () => {
    let withModels = 0;
    let blind = 0;
    const spy = (s: Parameters<typeof decide>[0], now: number) => {
      if (s.models !== undefined) withModels++;
      else blind++;
      return decide(s, now);
    };
    simulate(week, { ...mine!, policy: spy });
    simulate(week, { ...mine!, affinityMaxDelayMs: null, policy: spy });
    expect(withModels).toBeGreaterThan(0);
    expect(blind).toBeGreaterThan(0);
  });
});
