import { describe, expect, it } from 'vitest';
import { decide, DEFAULT_TUNING } from '../../src/fleet/autoscaler.js';
import type { ModelView, PolicyWorker } from '../../src/fleet/policy-types.js';
import { NOW, snapshot, worker } from './snapshot-builder.js';

function view(over: Partial<ModelView> = {}): ModelView {
  return {
    vramModels: 2,
    diskCacheModels: 3,
    queued: [],
    popularity: new Map([
      ['top', 60],
      ['second', 30],
      ['rare', 10],
    ]),
    ...over,
  };
}

function holding(w: PolicyWorker, vram: string[], disk: string[] = vram, fetching: string | null = null) {
  return { ...w, vram, disk, fetching };
}

describe('autoscaler model plan', () => {
  it('plans nothing about models for a pool whose jobs carry none', () => {
    expect(decide(snapshot({ queued: 1 }), NOW).models).toBeUndefined();
  });

  it('warms a new worker with the model of a queued job no idle worker holds', () => {
    const d = decide(
      snapshot({
        queued: 2,
        workers: [holding(worker('i', 'idle', 1_000), ['top'])],
        models: view({ queued: ['top', 'rare'] }),
      }),
      NOW,
    );
    expect(d.start).toBeGreaterThanOrEqual(1);
    expect(d.models?.startWith[0]).toBe('rare');
  });

  it('warms a new worker with the most wanted model held by the fewest workers when no job waits for it', () => {
    const workers = [holding(worker('b1', 'busy'), ['top']), holding(worker('b2', 'busy'), ['top'])];
    const d = decide(snapshot({ queued: 1, running: 2, workers, models: view({ queued: ['top'] }) }), NOW);
    // A queued job's model no idle worker holds comes first, even one busy workers hold.
    expect(d.models?.startWith[0]).toBe('top');
    const e = decide(snapshot({ queued: 0, running: 2, workers, limits: { min: 3 }, models: view() }), NOW);
    expect(e.start).toBe(1);
    expect(e.models?.startWith[0]).toBe('second');
  });

  it('warms a new worker with a model a free host already holds on disk (a disk load, not a fetch)', () => {
    // Two queued models, one start each: the one on a free host's disk comes first among equals.
    const waiting = view({ queued: ['rare', 'second'] });
    const blind = decide(snapshot({ queued: 2, models: waiting }), NOW);
    expect(blind.models?.startWith).toEqual(['rare', 'second']);
    const hosts = decide(snapshot({ queued: 2, models: { ...waiting, freeHosts: [['x', 'second']] } }), NOW);
    expect(hosts.models?.startWith).toEqual(['second', 'rare']);
    // The forecast: 'second' (share 0.3, no holder) beats 'top' (0.6, two holders) unless only 'top' sits
    // on a free disk; a model must then be wanted twice as much to be fetched instead.
    const workers = [holding(worker('b1', 'busy'), ['top']), holding(worker('b2', 'busy'), ['top'])];
    const spare = { queued: 0, running: 2, workers, limits: { min: 3 } };
    expect(decide(snapshot({ ...spare, models: view() }), NOW).models?.startWith).toEqual(['second']);
    const onDisk = decide(snapshot({ ...spare, models: view({ freeHosts: [['top']] }) }), NOW);
    expect(onDisk.models?.startWith).toEqual(['top']);
  });

  it('aims its prefetches at the pool’s prefetch_cover copies instead of the tuned one', () => {
    // Three idle workers, 'top' on none: cover 8 wants ceil(0.6 × 3 × 8) copies, cover 0.5 one.
    const idle = ['i1', 'i2', 'i3'].map((id) => holding(worker(id, 'idle', 1_000), ['rare'], ['rare']));
    const tuned = decide(snapshot({ workers: idle, models: view() }), NOW).models?.prefetch ?? [];
    expect(tuned.filter((p) => p.model === 'top')).toHaveLength(3);
    const low = decide(snapshot({ workers: idle, limits: { prefetchCover: 0.5 }, models: view() }), NOW);
    expect(low.models?.prefetch.filter((p) => p.model === 'top')).toHaveLength(1);
    const none = decide(snapshot({ workers: idle, limits: { prefetchCover: 0 }, models: view() }), NOW);
    expect(none.models?.prefetch).toEqual([]);
  });

  it('prefetches the most wanted missing file onto an idle worker, one at a time', () => {
    const idle = holding(worker('i', 'idle', 1_000), ['rare'], ['rare']);
    const d = decide(snapshot({ workers: [idle], models: view() }), NOW);
    expect(d.models?.prefetch).toEqual([{ worker: 'i', model: 'top' }]);
    const busyFetching = holding(worker('i', 'idle', 1_000), ['rare'], ['rare'], 'top');
    expect(decide(snapshot({ workers: [busyFetching], models: view() }), NOW).models?.prefetch).toEqual([]);
  });

  it('asks an idle worker for the next wanted file when its agent gave up prefetching the first', () => {
    const idle = { ...holding(worker('i', 'idle', 1_000), ['rare'], ['rare']), prefetchRefused: ['top'] };
    const d = decide(snapshot({ workers: [idle], models: view() }), NOW);
    expect(d.models?.prefetch).toEqual([{ worker: 'i', model: 'second' }]);
  });

  it('does not prefetch when every load is a fetch (no disk cache)', () => {
    const idle = holding(worker('i', 'idle', 1_000), [], []);
    const d = decide(snapshot({ workers: [idle], models: view({ diskCacheModels: 0 }) }), NOW);
    expect(d.models?.prefetch).toEqual([]);
  });

  it('preloads from disk into free VRAM, spreading models across idle workers', () => {
    const a = holding(worker('a', 'idle', 1_000), ['top'], ['top', 'second']);
    const b = holding(worker('b', 'idle', 1_000), [], ['top', 'second']);
    const d = decide(snapshot({ workers: [a, b], models: view() }), NOW);
    expect(d.models?.preload).toEqual([
      { worker: 'a', model: 'second' },
      { worker: 'b', model: 'top' },
    ]);
  });

  it('stops the idle worker whose resident models matter least, not the longest idle', () => {
    const onlyTop = holding(worker('keep', 'idle', 120_000), ['top'], ['top']);
    const dupA = holding(worker('dupA', 'idle', 90_000), ['rare'], ['rare']);
    const d = decide(snapshot({ workers: [onlyTop, dupA], models: view() }), NOW);
    expect(d.stop.length).toBeGreaterThan(0);
    expect(d.stop[0]).toBe('dupA');
    // Without models the longest idle goes first.
    const blind = decide(
      snapshot({ workers: [worker('keep', 'idle', 120_000), worker('dupA', 'idle', 90_000)] }),
      NOW,
    );
    expect(blind.stop[0]).toBe('keep');
  });
});

describe('planning horizon from the fleet file', () => {
  it('provisions for the jobs expected within planning_horizon_s instead of 1.17 × the cold start', () => {
    const recentFinishes = ['a', 'b', 'c', 'd', 'e', 'f'].map((userId) => ({ userId, at: NOW - 10_000 }));
    const short = decide(snapshot({ recentFinishes, limits: { planningHorizonS: 1 } }), NOW);
    const long = decide(snapshot({ recentFinishes, limits: { planningHorizonS: 120 } }), NOW);
    expect(short.start).toBe(0);
    expect(long.start).toBeGreaterThan(0);
    expect(long.reason).toContain('within 120 s');
  });
});

describe('quiet hours with models', () => {
  it('looks a shorter horizon ahead in a quiet hour, the whole horizon in a busy one', () => {
    const recentFinishes = ['a', 'b', 'c', 'd', 'e', 'f'].map((userId) => ({ userId, at: NOW - 10_000 }));
    const limits = { planningHorizonS: 120 };
    // No history and no arrivals: the pool counts as quiet.
    const quiet = decide(snapshot({ recentFinishes, limits, models: view() }), NOW);
    const allDay = decide(snapshot({ recentFinishes, limits, models: view() }), NOW, {
      ...DEFAULT_TUNING,
      quietHorizonShare: 1,
    });
    expect(quiet.reason).toContain('within 120 s (36 s this quiet hour)');
    expect(quiet.target).toBeLessThan(allDay.target);
    // Without models the horizon is the same all day, as before.
    expect(decide(snapshot({ recentFinishes, limits }), NOW).reason).not.toContain('quiet hour');
  });
});

describe('latency_hours', () => {
  const recentFinishes = ['a', 'b', 'c', 'd', 'e', 'f'].map((userId) => ({
    userId,
    at: NOW - 10_000,
    model: 'rare',
  }));

  it('keeps no spare workers off hours: starts only for waiting jobs and lets idle ones stop', () => {
    const idle = [worker('i1', 'idle', 1_000), worker('i2', 'idle', 2_000)];
    const s = { recentFinishes, workers: idle, limits: { planningHorizonS: 60, scaleDownMs: 0 } };
    const inside = decide(snapshot(s), NOW);
    const off = decide(snapshot({ ...s, limits: { ...s.limits, offHours: true } }), NOW);
    expect(inside.target).toBeGreaterThanOrEqual(2);
    expect(inside.stop).toEqual([]);
    expect(off.target).toBe(0);
    expect(off.stop).toEqual(['i2', 'i1']);
    expect(off.reason).toContain('outside latency_hours: no spares');
    // A waiting job still gets a worker.
    const queued = decide(snapshot({ recentFinishes, queued: 1, limits: { offHours: true } }), NOW);
    expect(queued.start).toBe(1);
  });

  it('makes no session copies off hours', () => {
    const workers = [
      holding(worker('b', 'busy'), ['rare']),
      holding(worker('i', 'idle', 1_000), ['top', 'second'], ['top', 'second', 'other']),
    ];
    const s = { running: 1, workers, recentFinishes, models: view({ vramModels: 2 }) };
    const on = decide(snapshot({ ...s, limits: { sessionCopies: true } }), NOW);
    expect(on.models?.prefetch).toEqual([{ worker: 'i', model: 'rare' }]);
    const off = decide(snapshot({ ...s, limits: { sessionCopies: true, offHours: true } }), NOW);
    expect(off.models?.prefetch).toEqual([]);
  });
});

describe('session copies', () => {
  const users = ['u1', 'u2', 'u3'];
  const finishes = users.map((userId) => ({ userId, at: NOW - 5_000, model: 'rare' }));

  it("fetches returning users' model onto an idle worker when only a busy one holds it, with session_copies", () => {
    const workers = [
      holding(worker('b', 'busy'), ['rare']),
      holding(worker('i', 'idle', 1_000), ['top', 'second'], ['top', 'second', 'other']),
    ];
    // 'rare' is not among the top vram_models: only the session rule asks for it.
    const s = { running: 1, workers, recentFinishes: finishes, models: view({ vramModels: 2 }) };
    const on = decide(snapshot({ ...s, limits: { sessionCopies: true } }), NOW);
    expect(on.models?.prefetch).toEqual([{ worker: 'i', model: 'rare' }]);
    expect(decide(snapshot(s), NOW).models?.prefetch).toEqual([]);
    // Held by an idle worker already: no copy.
    const idleHolds = [
      workers[0]!,
      holding(worker('i', 'idle', 1_000), ['top', 'second'], ['top', 'second', 'rare']),
    ];
    const held = decide(snapshot({ ...s, workers: idleHolds, limits: { sessionCopies: true } }), NOW);
    expect(held.models?.prefetch).toEqual([]);
  });
});
