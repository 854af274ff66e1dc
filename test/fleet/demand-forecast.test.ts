import { describe, expect, it } from 'vitest';
import { ArrivalHistory } from '../../src/fleet/arrival-history.js';
import {
  arrivalRate,
  poissonQuantile,
  returnedBy,
  returnWithin,
  sessionReturns,
  TRACE_RETURN_CURVE,
} from '../../src/fleet/demand-forecast.js';
import { NOW, snapshot } from './snapshot-builder.js';

describe('session return curve', () => {
  it('reads the trace facts and interpolates between them', () => {
    expect(returnedBy(TRACE_RETURN_CURVE, 2)).toBe(0);
    expect(returnedBy(TRACE_RETURN_CURVE, 60)).toBeCloseTo(0.59, 10);
    expect(returnedBy(TRACE_RETURN_CURVE, 90)).toBeCloseTo(0.67, 10);
    expect(returnedBy(TRACE_RETURN_CURVE, 10_000)).toBeCloseTo(0.86, 10);
  });

  it('gives the chance of returning within a horizon for a user who has not returned yet', () => {
    // Just finished: 0.59 × 27/57 of users return within 30 s.
    expect(returnWithin(TRACE_RETURN_CURVE, 0, 30)).toBeCloseTo((0.59 * 27) / 57, 10);
    // 30 s later, without a return, the next 30 s are likelier: (0.59 − 0.2795) / (1 − 0.2795).
    const at30 = returnedBy(TRACE_RETURN_CURVE, 30);
    expect(returnWithin(TRACE_RETURN_CURVE, 30, 30)).toBeCloseTo((0.59 - at30) / (1 - at30), 10);
    // Past the curve's last point the user counts as gone.
    expect(returnWithin(TRACE_RETURN_CURVE, 300, 30)).toBe(0);
  });
});

describe('forecast inputs', () => {
  it('counts arrivals per second within the window, excluding the future', () => {
    expect(arrivalRate([NOW - 70_000, NOW - 50_000, NOW - 1, NOW + 5], NOW, 60_000)).toBeCloseTo(2 / 60, 10);
  });

  it('sums session returns over users between jobs, from each user last finish', () => {
    const s = snapshot({
      recentFinishes: [
        { userId: 'ann', at: NOW - 200_000 },
        { userId: 'ann', at: NOW }, // ann's latest finish counts, not the old one
        { userId: 'bob', at: NOW - 10_000 },
        { userId: 'cy', at: NOW - 5_000 }, // cy has a job queued again: not between jobs
      ],
      activeUsers: new Set(['cy']),
    });
    const r = sessionReturns(s, NOW, TRACE_RETURN_CURVE, 30);
    expect(r.users).toBe(2);
    expect(r.expected).toBeCloseTo(
      returnWithin(TRACE_RETURN_CURVE, 0, 30) + returnWithin(TRACE_RETURN_CURVE, 10, 30),
      10,
    );
  });

  it('sizes for the Poisson tail: the smallest k with P(X > k) ≤ eps', () => {
    expect(poissonQuantile(0, 0.1)).toBe(0);
    // P(X > 0) = 1 − e^−0.5 ≈ 0.39: no spare at a 40% risk, one at 30%.
    expect(poissonQuantile(0.5, 0.4)).toBe(0);
    expect(poissonQuantile(0.5, 0.3)).toBe(1);
    // Mean 2: P(X > 4) ≈ 0.053, P(X > 5) ≈ 0.017.
    expect(poissonQuantile(2, 0.05)).toBe(5);
    expect(poissonQuantile(2, 0.06)).toBe(4);
  });
});

describe('arrival history', () => {
  const DAY = 86_400_000;
  const MONDAY = Date.UTC(2026, 0, 5);

  it('learns arrivals per hour of day from whole previous days only', () => {
    const h = new ArrivalHistory(7, false);
    h.record(MONDAY + 15 * 3_600_000 + 5);
    h.record(MONDAY + 15 * 3_600_000 + 9);
    h.record(MONDAY + 3 * 3_600_000);
    expect(h.profile(MONDAY + 16 * 3_600_000)).toMatchObject({ days: 0 });
    h.record(MONDAY + DAY + 15 * 3_600_000); // today's arrival: not in today's profile
    const p = h.profile(MONDAY + DAY + 16 * 3_600_000);
    expect(p.days).toBe(1);
    expect(p.byHour[15]).toBe(2);
    expect(p.byHour[3]).toBe(1);
    expect(p.byHour.reduce((a, b) => a + b, 0)).toBe(3);
  });

  it('counts quiet days, forgets days past the window, and can compare weekdays with weekdays', () => {
    const h = new ArrivalHistory(2, false);
    h.record(MONDAY + 10 * 3_600_000);
    // Thursday: Monday is more than two days back; Tuesday and Wednesday had nothing and still count.
    expect(h.profile(MONDAY + 3 * DAY)).toMatchObject({ days: 2, byHour: new Array(24).fill(0) });
    const kind = new ArrivalHistory(7, true);
    kind.record(MONDAY + 10 * 3_600_000);
    kind.record(MONDAY + 5 * DAY + 10 * 3_600_000); // Saturday
    expect(kind.profile(MONDAY + 6 * DAY).days).toBe(1); // Sunday sees Saturday only
    expect(kind.profile(MONDAY + 7 * DAY)).toMatchObject({ days: 5 }); // next Monday: Mon–Fri
  });
});
