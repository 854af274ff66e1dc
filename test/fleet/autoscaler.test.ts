import { describe, expect, it } from 'vitest';
import { decide } from '../../src/fleet/autoscaler.js';
import { reactiveDecide } from '../../src/fleet/reactive.js';
import { history, NOW, snapshot, worker } from './snapshot-builder.js';

/** NOW is 15:00 UTC: a profile whose 15:00 hour was far above the mean hour on previous days, or far below. */
const BUSY_HOUR = history(3, (h) => (h === 15 ? 100 : 10));
const QUIET_HOUR = history(3, (h) => (h === 15 ? 1 : 10));

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
    // Once the return curve has run out (300 s after their last job), the same worker stops.
    const later = NOW + 300_001;
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

  it('starts spare workers ahead of a burst of arrivals, fewer when running jobs will free workers soon', () => {
    // 30 submissions in the last minute: 0.5/s; a 15% share of fresh sessions over a 29 s horizon expects
    // 2.2 jobs, and at a 40% risk that means being ready for 2.
    const recentArrivals = Array.from({ length: 30 }, (_, i) => NOW - i * 2_000);
    expect(decide(snapshot({ recentArrivals }), NOW)).toMatchObject({ target: 2, start: 2 });
    // Two running jobs: one of them is expected to end within the horizon and take one of those jobs.
    const two = [worker('a', 'busy'), worker('b', 'busy')];
    expect(decide(snapshot({ running: 2, workers: two, recentArrivals }), NOW)).toMatchObject({
      target: 3,
      start: 1,
    });
    const four = [...two, worker('c', 'busy'), worker('d', 'busy')];
    expect(decide(snapshot({ running: 4, workers: four, recentArrivals }), NOW)).toMatchObject({
      target: 4,
      start: 0,
    });
  });

  it('holds between the start and keep risks instead of churning', () => {
    // One user finished 30 s ago: 42% chance they submit within the horizon, so a 34% chance of a job.
    // In a busy hour that is above the keep risk (15%) and below the start risk (40%).
    const recentFinishes = [{ userId: 'ann', at: NOW - 30_000 }];
    const busy = { recentFinishes, arrivalProfile: BUSY_HOUR };
    const held = decide(snapshot({ ...busy, workers: [worker('i1', 'idle', 100_000)] }), NOW);
    expect(held).toMatchObject({ start: 0, stop: [], target: 1 });
    expect(decide(snapshot(busy), NOW)).toMatchObject({ start: 0, target: 0 });
  });

  it('keeps a worker for a lone returning user in an hour that was busy on previous days, not in a quiet one', () => {
    const recentFinishes = [{ userId: 'ann', at: NOW - 30_000 }];
    const workers = [worker('i1', 'idle', 100_000)];
    expect(decide(snapshot({ workers, recentFinishes, arrivalProfile: BUSY_HOUR }), NOW).stop).toEqual([]);
    expect(decide(snapshot({ workers, recentFinishes, arrivalProfile: QUIET_HOUR }), NOW).stop).toEqual([
      'i1',
    ]);
    // Without a history the rate decides: no recent arrivals is quiet.
    expect(decide(snapshot({ workers, recentFinishes }), NOW).stop).toEqual(['i1']);
    // With one, the hour decides even when the last minutes were quiet: the rate lags the afternoon ramp.
    expect(decide(snapshot({ workers, recentFinishes, arrivalProfile: BUSY_HOUR }), NOW).reason).toContain(
      '1 users between jobs',
    );
  });

  it('looks ahead about one cold start: a return expected later than that does not keep a worker', () => {
    const recentFinishes = [{ userId: 'ann', at: NOW - 30_000 }];
    const s = { recentFinishes, arrivalProfile: BUSY_HOUR, workers: [worker('i1', 'idle', 100_000)] };
    expect(decide(snapshot(s), NOW).stop).toEqual([]);
    // A 5 s cold start: the chance of ann submitting within 6 s is 8%, below the keep risk.
    expect(decide(snapshot({ ...s, limits: { coldStartMs: 5_000 } }), NOW).stop).toEqual(['i1']);
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
