import { describe, expect, it } from 'vitest';
import { decide, DEFAULT_TUNING } from '../../src/fleet/autoscaler.js';
import { reactiveDecide } from '../../src/fleet/reactive.js';
import { NOW, snapshot, worker } from './snapshot-builder.js';

describe('autoscaler decide()', () => {
  it('scales up from zero on one queued job', () => {
    const d = decide(snapshot({ queued: 1 }), NOW);
    expect(d).toMatchObject({ current: 0, target: 1, start: 1, stop: [] });
    expect(d.reason).toContain('queued 1');
  });

  it('starts one worker per queued job at once (scale up fast)', () => {
    expect(decide(snapshot({ queued: 6, running: 1, workers: [worker('a', 'busy')] }), NOW).start).toBe(6);
  });

  it('holds the minimum from the schedule floor with no demand', () => {
    expect(decide(snapshot({ limits: { min: 2 } }), NOW)).toMatchObject({ target: 2, start: 2 });
  });

  it('never stops a busy worker, even far above target', () => {
    const workers = [
      worker('b1', 'busy'),
      worker('b2', 'busy'),
      worker('s1', 'starting'),
      worker('w1', 'warming'),
    ];
    const d = decide(snapshot({ running: 0, workers, limits: { scaleDownMs: 0 } }), NOW);
    expect(d.stop).toEqual([]);
  });

  it('stops an idle worker only once it has been idle for the scale-down window', () => {
    const young = decide(snapshot({ workers: [worker('i1', 'idle', 59_999)] }), NOW);
    expect(young.stop).toEqual([]);
    const old = decide(snapshot({ workers: [worker('i1', 'idle', 60_000)] }), NOW);
    expect(old.stop).toEqual(['i1']);
    expect(old.target).toBe(0);
  });

  it('stops the longest-idle workers first and only down to the target', () => {
    const workers = [
      worker('i1', 'idle', 70_000),
      worker('i2', 'idle', 90_000),
      worker('i3', 'idle', 80_000),
      worker('b', 'busy'),
    ];
    const d = decide(snapshot({ running: 1, queued: 1, workers }), NOW);
    expect(d.target).toBe(2);
    expect(d.stop).toEqual(['i2', 'i3']);
  });

  it('honours max', () => {
    const d = decide(snapshot({ queued: 50, limits: { max: 4 } }), NOW);
    expect(d).toMatchObject({ target: 4, start: 4 });
    expect(d.reason).toContain('max 4');
  });

  it('honours the cost cap over max and min', () => {
    // $1/GPU-hour and a $3/h cap allow three workers.
    const d = decide(snapshot({ queued: 8, limits: { max: 10, min: 5, maxCostPerHour: 3 } }), NOW);
    expect(d).toMatchObject({ target: 3, start: 3 });
    expect(d.reason).toContain('cost cap');
  });

  it('keeps an idle worker warm while users are between jobs of a session', () => {
    const workers = [worker('i1', 'idle', 120_000)];
    const recentFinishes = [
      { userId: 'alice', at: NOW - 20_000 },
      { userId: 'bob', at: NOW - 40_000 },
    ];
    const kept = decide(snapshot({ workers, recentFinishes }), NOW);
    expect(kept.stop).toEqual([]);
    expect(kept.target).toBe(1);
    expect(kept.reason).toContain('2 users between jobs');
    // Once their session window has passed, the same worker stops.
    const later = NOW + DEFAULT_TUNING.sessionWindowMs + 1;
    expect(decide(snapshot({ workers, recentFinishes }), later).stop).toEqual(['i1']);
    // A user with a job queued or running is not "between jobs".
    expect(
      decide(snapshot({ workers, recentFinishes, activeUsers: new Set(['alice', 'bob']) }), NOW).stop,
    ).toEqual(['i1']);
  });

  it('the reactive rule, given the same session, stops that worker', () => {
    const workers = [worker('i1', 'idle', 120_000)];
    const recentFinishes = [
      { userId: 'alice', at: NOW - 20_000 },
      { userId: 'bob', at: NOW - 40_000 },
    ];
    expect(reactiveDecide(snapshot({ workers, recentFinishes }), NOW).stop).toEqual(['i1']);
  });

  it('starts spare workers ahead of a burst of arrivals', () => {
    // 30 submissions in the last minute: 0.25/s × 25 s cold start ≈ 6 expected, one spare per 5.
    const recentArrivals = Array.from({ length: 30 }, (_, i) => NOW - i * 2_000);
    const d = decide(
      snapshot({ running: 2, workers: [worker('a', 'busy'), worker('b', 'busy')], recentArrivals }),
      NOW,
    );
    expect(d.target).toBeGreaterThan(2);
    expect(d.start).toBe(d.target - 2);
  });

  it('holds between the start and keep targets instead of churning', () => {
    // Moderate traffic: not enough to start a spare, enough to keep one warm past the window.
    const recentArrivals = Array.from({ length: 12 }, (_, i) => NOW - i * 20_000);
    const d = decide(snapshot({ workers: [worker('i1', 'idle', 100_000)], recentArrivals }), NOW);
    expect(d).toMatchObject({ start: 0, stop: [], target: 1 });
    expect(decide(snapshot({ recentArrivals }), NOW).start).toBe(0);
  });

  it('adds the configured buffer above demand', () => {
    expect(
      decide(snapshot({ running: 1, workers: [worker('a', 'busy')], limits: { buffer: 2 } }), NOW),
    ).toMatchObject({ target: 3, start: 2 });
  });

  it('is pure: the same snapshot gives the same decision', () => {
    const s = snapshot({ queued: 2, recentArrivals: [NOW - 1000, NOW - 5000] });
    expect(decide(s, NOW)).toEqual(decide(s, NOW));
  });
});
