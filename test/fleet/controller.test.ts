import { describe, expect, it } from 'vitest';
import {
  FleetController,
  type ControllerDeps,
  type FleetWorker,
  type PoolObservation,
} from '../../src/fleet/controller.js';
import { ActivityTracker } from '../../src/fleet/activity.js';
import { CostLedger } from '../../src/fleet/cost.js';
import { parseFleetFile, type PoolConfig } from '../../src/fleet/fleet-file.js';
import type { Decision } from '../../src/fleet/policy-types.js';
import { StaticProvider } from '../../src/fleet/providers/static-provider.js';

const fleet = parseFleetFile(`
pools:
  web:
    provider: static
    max: 2
    scale_down_s: 10
    price_per_gpu_second: 0.5
    schedules:
      - { name: office, hours: "09-18", min: 1 }
    warmup:
      workflow: { "1": { class_type: EmptyImage, inputs: {} } }
    static:
      urls: ["http://10.0.0.1:8188", "http://10.0.0.2:8188"]
`);
const pool = fleet.pools[0]!;
/** Process settings with a model cache folder: the controller then plans disk prefetches for the pool. */
const CACHE_SETTINGS = {
  command: 'comfy --port {port}',
  env: {},
  gpus: null,
  cwd: null,
  readyPattern: 'listening',
  startTimeoutMs: 1000,
  stopGraceMs: 0,
  modelsDir: '/tmp/models-{worker}',
  modelCacheGb: 1,
};

function harness(over: Partial<ControllerDeps> = {}) {
  let now = Date.UTC(2026, 0, 7, 20, 0, 0);
  const seen: PoolObservation = {
    queued: 0,
    running: 0,
    recentArrivals: [],
    recentFinishes: [],
    activeUsers: new Set(),
    arrivalProfile: { days: 0, byHour: [] },
    workerStates: new Map(),
  };
  const decisions: Decision[] = [];
  const events: string[] = [];
  const provider = new StaticProvider(pool.static?.urls ?? []);
  let n = 0;
  const controller = new FleetController({
    pools: fleet.pools,
    providers: new Map([['web', provider]]),
    observe: async () => seen,
    record: async (d) => {
      decisions.push(d);
    },
    onWorkerReady: (w: FleetWorker) => {
      events.push(`ready ${w.id} ${w.comfyUrl} ${w.state}`);
    },
    onWorkerStopped: (w: FleetWorker) => {
      events.push(`stopped ${w.id}`);
    },
    runWarmup: async (w, workflow) => {
      events.push(`warmup ${w.id} ${w.state} ${Object.keys(workflow).join(',')}`);
    },
    clock: () => now,
    newWorkerId: () => `w${++n}`,
    ...over,
  });
  // Lets the ready promises of started workers settle.
  const settle = () => new Promise((r) => setImmediate(r));
  return {
    controller,
    seen,
    decisions,
    events,
    advance: (ms: number) => (now += ms),
    at: (t: number) => (now = t),
    settle,
  };
}

describe('fleet controller', () => {
  it('starts a worker for a queued job, warms it up, hands it over, and records the decision', async () => {
    const h = harness();
    h.seen.queued = 1;
    await h.controller.tick();
    await h.settle();
    expect(h.decisions).toHaveLength(1);
    expect(h.decisions[0]).toMatchObject({ pool: 'web', current: 0, target: 1, start: 1 });
    expect(h.events).toEqual(['warmup w1 warming 1', 'ready w1 http://10.0.0.1:8188 ready']);
  });

  it('stops an idle worker after the window and bills it from start to stop', async () => {
    const h = harness();
    h.seen.queued = 1;
    await h.controller.tick();
    await h.settle();
    h.seen.queued = 0;
    await h.controller.tick(); // first seen idle now
    h.advance(9_000);
    await h.controller.tick();
    expect(h.controller.list()).toHaveLength(1);
    h.advance(1_000);
    await h.controller.tick();
    expect(h.controller.list()).toHaveLength(0);
    expect(h.events.at(-1)).toBe('stopped w1');
    expect(h.controller.ledger.poolCost('web', Date.now())).toMatchObject({ workerSeconds: 10, cost: 5 });
  });

  it('does not stop a worker whose agent just took a job (drain says no), nor a busy one', async () => {
    let drainAnswer = false;
    const h = harness({ drain: async () => drainAnswer });
    h.seen.queued = 2;
    await h.controller.tick();
    await h.settle();
    h.seen.queued = 0;
    h.seen.running = 1;
    h.seen.workerStates = new Map([['w1', 'busy']]);
    await h.controller.tick();
    h.advance(60_000);
    await h.controller.tick();
    expect(h.controller.list().map((w) => w.id)).toEqual(['w1', 'w2']);
    drainAnswer = true;
    await h.controller.tick();
    expect(h.controller.list().map((w) => w.id)).toEqual(['w1']);
  });

  it('hands the observed hour-of-day profile to the policy', async () => {
    const seenByPolicy: unknown[] = [];
    const h = harness({
      policy: (s, now) => {
        seenByPolicy.push(s.arrivalProfile);
        return { pool: s.pool, at: now, current: 0, target: 0, start: 0, stop: [], reason: 'hold' };
      },
    });
    const profile = { days: 2, byHour: Array.from({ length: 24 }, (_, i) => i) };
    h.seen.arrivalProfile = profile;
    await h.controller.tick();
    expect(seenByPolicy).toEqual([profile]);
  });

  it('tells the policy when it runs outside the pool’s latency_hours (the live fleet runs the same rule)', async () => {
    const offHours: unknown[] = [];
    const withHours = parseFleetFile(
      'pools:\n  web:\n    provider: static\n    max: 2\n    latency_hours: "Mon-Fri 12:00-18:00"\n' +
        '    static: { urls: ["http://10.0.0.1:8188"] }\n',
    );
    const h = harness({
      pools: withHours.pools,
      policy: (s, now) => {
        offHours.push(s.limits.offHours ?? false);
        return { pool: s.pool, at: now, current: 0, target: 0, start: 0, stop: [], reason: 'hold' };
      },
    });
    h.at(Date.UTC(2026, 0, 7, 15, 0, 0));
    await h.controller.tick();
    h.at(Date.UTC(2026, 0, 7, 20, 0, 0));
    await h.controller.tick();
    expect(offHours).toEqual([false, true]);
  });

  it('at the close of latency_hours keeps the worker started for a job queued just before, and the buffer', async () => {
    const file = (buffer: number) =>
      parseFleetFile(
        `pools:\n  web:\n    provider: static\n    max: 2\n    buffer: ${buffer}\n    scale_down_s: 0\n` +
          '    latency_hours: "Mon-Fri 12:00-18:00"\n' +
          '    warmup: { workflow: { "1": { class_type: EmptyImage, inputs: {} } } }\n' +
          '    static: { urls: ["http://10.0.0.1:8188", "http://10.0.0.2:8188"] }\n',
      );
    let warmed = (): void => {};
    const warming = new Promise<void>((resolve) => (warmed = resolve));
    const h = harness({ pools: file(0).pools, runWarmup: () => warming });
    // 17:59:50 on a Wednesday: a job waits and six users are between jobs, so spares start too.
    h.at(Date.UTC(2026, 0, 7, 17, 59, 50));
    h.seen.queued = 1;
    h.seen.recentFinishes = ['a', 'b', 'c', 'd', 'e', 'f'].map((userId) => ({
      userId,
      at: Date.UTC(2026, 0, 7, 17, 59, 40),
    }));
    await h.controller.tick();
    await h.settle();
    expect(h.decisions[0]).toMatchObject({ target: 2, start: 2 });
    // 18:00:01: outside the hours the target drops to the waiting job's worker, but both are still warming:
    // none stops (a warming worker never does).
    h.at(Date.UTC(2026, 0, 7, 18, 0, 1));
    await h.controller.tick();
    expect(h.decisions[1]?.reason).toContain('outside latency_hours');
    expect(h.decisions[1]).toMatchObject({ target: 1, start: 0, stop: [] });
    expect(h.controller.list()).toHaveLength(2);
    warmed();
    await h.settle();
    // Both idle now: the spare stops at once (scale_down_s 0), the one for the waiting job stays.
    h.advance(5_000);
    await h.controller.tick();
    expect(h.decisions.at(-1)).toMatchObject({ target: 1 });
    expect(h.decisions.at(-1)?.stop).toHaveLength(1);
    // With buffer 1 the operator's spare is kept off hours too (only the forecast's spares go).
    const b = harness({ pools: file(1).pools });
    b.at(Date.UTC(2026, 0, 7, 20, 0, 0));
    await b.controller.tick();
    expect(b.decisions[0]).toMatchObject({ target: 1, start: 1 });
    expect(b.decisions[0]?.reason).toContain('outside latency_hours');
  });

  it('applies the schedule floor and says so in the reason', async () => {
    const h = harness();
    h.at(Date.UTC(2026, 0, 7, 10, 0, 0));
    await h.controller.tick();
    expect(h.decisions[0]).toMatchObject({ target: 1, start: 1 });
    expect(h.decisions[0]?.reason).toContain('schedule "office"');
  });

  it('records a provider failure in the decision instead of throwing', async () => {
    const h = harness();
    h.seen.queued = 5;
    await h.controller.tick();
    expect(h.decisions[0]?.reason).not.toContain('failed');
    expect(h.controller.list()).toHaveLength(2);
    const extra = new StaticProvider([]);
    const h2 = harness({ providers: new Map([['web', extra]]) });
    h2.seen.queued = 1;
    await h2.controller.tick();
    expect(h2.decisions[0]?.reason).toMatch(/failed: pool web: all 0 static ComfyUI URLs are in use/);
  });

  it('stops a worker whose warm-up fails instead of handing it over', async () => {
    const failures: string[] = [];
    const h = harness({
      runWarmup: async () => {
        throw new Error('model missing');
      },
      onWorkerFailed: (w, err) => {
        failures.push(`${w.id}: ${err instanceof Error ? err.message : ''}`);
      },
    });
    h.seen.queued = 1;
    await h.controller.tick();
    await h.settle();
    expect(failures).toEqual(['w1: model missing']);
    expect(h.events).toEqual(['stopped w1']);
    expect(h.controller.list()).toEqual([]);
  });
});

describe('cost ledger', () => {
  it('bills per started second and shares idle time across jobs', () => {
    const ledger = new CostLedger(new Map([['p', 0.01]]));
    ledger.workerStarted('p', 'a', 0);
    ledger.workerStarted('p', 'b', 0);
    ledger.workerStopped('a', 100_500); // 101 billed seconds
    ledger.jobRan('p', 30);
    ledger.jobRan('p', 20);
    const c = ledger.poolCost('p', 50_000); // b still running: 50 s
    expect(c).toMatchObject({ workerSeconds: 151, busySeconds: 50, jobs: 2, idleSeconds: 101 });
    expect(c.cost).toBeCloseTo(1.51, 10);
    // A 30 s job pays its own 30 s plus half of the 101 idle seconds.
    expect(ledger.jobCost('p', 30, 50_000)).toBeCloseTo((30 + 50.5) * 0.01, 10);
    expect(ledger.poolCost('other', 0)).toMatchObject({ workerSeconds: 0, cost: 0 });
  });
});

describe('activity tracker', () => {
  it('keeps submissions and finishes per pool within the window', () => {
    const t = new ActivityTracker(60_000);
    t.submitted('a', 1_000);
    t.submitted('b', 2_000);
    t.finished('a', 'ann', 15_000);
    t.submitted('a', 70_000);
    expect(t.recent('a', 70_000)).toMatchObject({
      recentArrivals: [70_000],
      recentFinishes: [{ userId: 'ann', at: 15_000 }],
    });
    expect(t.recent('a', 80_000).recentFinishes).toEqual([]);
    expect(t.recent('b', 10_000).recentArrivals).toEqual([2_000]);
  });

  it('learns each pool hour-of-day profile from its submissions, for the next days', () => {
    const t = new ActivityTracker(60_000);
    const day = Date.UTC(2026, 0, 5); // a Monday
    t.submitted('a', day + 15 * 3_600_000);
    t.submitted('a', day + 15 * 3_600_000 + 1_000);
    t.submitted('b', day + 9 * 3_600_000);
    expect(t.recent('a', day + 16 * 3_600_000).arrivalProfile.days).toBe(0);
    const next = t.recent('a', day + 86_400_000 + 60_000).arrivalProfile;
    expect(next.days).toBe(1);
    expect(next.byHour[15]).toBe(2);
    expect(next.byHour[9]).toBe(0);
  });
});

describe('fleet controller with the model plan', () => {
  const cached = { ...pool, warmup: null, process: { ...CACHE_SETTINGS } };

  it('gives a new worker the queued model first and prefetches wanted files onto idle workers', async () => {
    const calls: string[] = [];
    const h = harness({
      pools: [cached],
      warmModel: async (w, model) => {
        calls.push(`warm ${w.id} ${model} ${w.state}`);
      },
      prefetchModel: async (w, model) => {
        calls.push(`prefetch ${model} ${w.id}`);
      },
    });
    h.seen.queued = 1;
    h.seen.models = {
      queued: ['b.ckpt'],
      popularity: new Map([['b.ckpt', 1]]),
      fetchable: new Set(['b.ckpt', 'c.ckpt']),
      workers: new Map(),
    };
    await h.controller.tick();
    await h.settle();
    expect(calls).toEqual(['warm w1 b.ckpt warming']);
    expect(h.controller.list()[0]).toMatchObject({ id: 'w1', state: 'ready', firstModel: 'b.ckpt' });
    expect(h.decisions[0]?.reason).toContain('models: new workers load first b.ckpt');

    // w1 idle, holding b; the day's jobs want c most: it is fetched onto w1's disk in the background.
    h.seen.queued = 0;
    h.seen.models = {
      queued: [],
      popularity: new Map([
        ['c.ckpt', 9],
        ['b.ckpt', 1],
      ]),
      fetchable: new Set(['b.ckpt', 'c.ckpt']),
      workers: new Map([['w1', { vram: ['b.ckpt'], disk: ['b.ckpt'], fetching: null }]]),
    };
    await h.controller.tick();
    expect(calls.at(-1)).toBe('prefetch c.ckpt w1');
    expect(h.decisions.at(-1)?.reason).toContain('models: prefetch c.ckpt → w1');
    expect(h.controller.lastModelPlan('web')?.actions.prefetch).toEqual([{ worker: 'w1', model: 'c.ckpt' }]);

    // Asked already (the agent reports it as pending): not asked again, nothing logged for it.
    const logged = h.decisions.length;
    h.seen.models = {
      ...h.seen.models,
      workers: new Map([['w1', { vram: ['b.ckpt'], disk: ['b.ckpt'], fetching: 'c.ckpt' }]]),
    };
    await h.controller.tick();
    expect(calls.filter((c) => c.startsWith('prefetch'))).toHaveLength(1);
    expect(h.decisions.slice(logged).every((d) => d.models === undefined)).toBe(true);
  });

  it('records a prefetch the store refuses as failed, skips a worker gone meanwhile, and keeps ticking', async () => {
    let storeUp = true;
    const asked: string[] = [];
    let ticks = 0;
    const h = harness({
      pools: [cached],
      // First tick starts w1; then the plan asks w1 and a worker that stopped since it was observed.
      policy: (s, now) => ({
        pool: s.pool,
        at: now,
        current: s.workers.length,
        target: 1,
        start: ticks++ === 0 ? 1 : 0,
        stop: [],
        reason: 'hold',
        models: {
          startWith: [],
          prefetch: [
            { worker: 'gone', model: 'c.ckpt' },
            { worker: 'w1', model: 'c.ckpt' },
          ],
          preload: [],
        },
      }),
      prefetchModel: async (w, model) => {
        if (!storeUp) throw new Error('store unreachable');
        asked.push(`${model} ${w.id}`);
      },
      record: async (d) => {
        if (!storeUp) throw new Error('store unreachable');
        h.decisions.push(d);
      },
    });
    await h.controller.tick();
    await h.settle();
    asked.length = 0;
    storeUp = false;
    await h.controller.tick();
    expect(h.controller.health().failingSince).not.toBeNull();
    storeUp = true;
    await h.controller.tick();
    expect(h.controller.health().failingSince).toBeNull();
    expect(asked).toEqual(['c.ckpt w1']);
    expect(h.decisions.at(-1)?.models?.prefetch).toEqual([{ worker: 'w1', model: 'c.ckpt' }]);
    expect(h.decisions.at(-1)?.reason).not.toContain('failed');
    h.seen.models = {
      queued: [],
      popularity: new Map([['c.ckpt', 9]]),
      fetchable: new Set(['c.ckpt']),
      workers: new Map([['w1', { vram: [], disk: [], fetching: null }]]),
    };
    // The store takes the decision but refuses the prefetch: the decision says so, nothing counts as taken.
    const refusing = harness({
      pools: [cached],
      prefetchModel: async () => {
        throw new Error('c.ckpt is not in the model registry');
      },
    });
    refusing.seen.queued = 1;
    await refusing.controller.tick();
    await refusing.settle();
    refusing.seen.queued = 0;
    refusing.seen.models = h.seen.models;
    await refusing.controller.tick();
    expect(refusing.decisions.at(-1)?.reason).toContain(
      'failed: prefetch c.ckpt: c.ckpt is not in the model registry',
    );
    expect(refusing.decisions.at(-1)?.models).toBeUndefined();
    expect(refusing.controller.lastModelPlan('web')).toBeNull();
  });

  it("preloads wanted models onto idle workers only where the pool's warm-up can load them", async () => {
    const loader = (class_type: string, input: string) => ({
      '1': { class_type, inputs: { [input]: 'default' } },
      '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'w' } },
    });
    const withWarmup = (workflow: Record<string, unknown> | null) => ({
      ...pool,
      warmup: workflow === null ? null : { kind: 'inline' as const, workflow },
    });
    const models = (refused: string[] = []) => ({
      queued: [],
      popularity: new Map([
        ['c.ckpt', 9],
        ['b.ckpt', 1],
      ]),
      fetchable: new Set<string>(),
      refs: new Map([
        ['b.ckpt', { kind: 'checkpoint' as const, name: 'b.ckpt' }],
        ['c.ckpt', { kind: 'checkpoint' as const, name: 'c.ckpt' }],
      ]),
      workers: new Map([
        ['w1', { vram: ['b.ckpt'], disk: ['b.ckpt', 'c.ckpt'], fetching: null, preloadRefused: refused }],
      ]),
    });
    const run = async (p: PoolConfig, taken = true, refused: string[] = []) => {
      const calls: string[] = [];
      const h = harness({
        pools: [p],
        preloadModel: async (w, m) => {
          calls.push(`${m} ${w.id}`);
          return taken;
        },
      });
      h.seen.queued = 1;
      await h.controller.tick();
      await h.settle();
      h.seen.queued = 0;
      h.seen.models = models(refused);
      await h.controller.tick();
      return { calls, last: h.decisions.at(-1), plan: h.controller.lastModelPlan('web') };
    };
    const loads = await run(withWarmup(loader('CheckpointLoaderSimple', 'ckpt_name')));
    expect(loads.calls).toEqual(['c.ckpt w1']);
    expect(loads.last?.reason).toContain('models: preload c.ckpt → w1');
    expect(loads.plan?.actions.preload).toEqual([{ worker: 'w1', model: 'c.ckpt' }]);
    // No warm-up, or one without a checkpoint loader: the plan counts on no preload there.
    expect((await run(withWarmup(null))).calls).toEqual([]);
    expect((await run(withWarmup(loader('VAELoader', 'vae_name')))).calls).toEqual([]);
    // An ask the agent does not take (loading it already) is not recorded as taken.
    const declined = await run(withWarmup(loader('CheckpointLoaderSimple', 'ckpt_name')), false);
    expect(declined.calls).toEqual(['c.ckpt w1']);
    expect(declined.last?.models).toBeUndefined();
    // A model the agent gave up preloading is not asked of it again.
    const refused = await run(withWarmup(loader('CheckpointLoaderSimple', 'ckpt_name')), true, ['c.ckpt']);
    expect(refused.calls).toEqual([]);
  });

  it('never prefetches a file the registry cannot serve, nor onto a pool without a model cache', async () => {
    const calls: string[] = [];
    const observe = (h: ReturnType<typeof harness>, fetchable: string[]) => {
      h.seen.models = {
        queued: [],
        popularity: new Map([['c.ckpt', 9]]),
        fetchable: new Set(fetchable),
        workers: new Map([['w1', { vram: [], disk: [], fetching: null }]]),
      };
    };
    for (const [p, fetchable] of [
      [cached, []],
      [{ ...pool, warmup: null }, ['c.ckpt']],
    ] as const) {
      const h = harness({ pools: [p], prefetchModel: async (w, m) => void calls.push(`${m} ${w.id}`) });
      h.seen.queued = 1;
      await h.controller.tick();
      await h.settle();
      h.seen.queued = 0;
      observe(h, [...fetchable]);
      await h.controller.tick();
    }
    expect(calls).toEqual([]);
  });
});
