import { describe, expect, it } from 'vitest';
import { parseFleetFile } from '../../src/fleet/fleet-file.js';
import { effectiveFloor, poolLimitsAt } from '../../src/fleet/schedule.js';
import { parsePeak } from '../../src/fleet/simulator/peak-window.js';

function pool(schedules: string) {
  const config = parseFleetFile(`
pools:
  gpu:
    provider: static
    static: { urls: ["http://127.0.0.1:8188"] }
    min: 0
    buffer: 0
    max: 5
    schedules:
${schedules}
`);
  const p = config.pools[0];
  if (p === undefined) throw new Error('no pool');
  return p;
}

// 2026-01-07 is a Wednesday, 2026-01-10 a Saturday.
const at = (iso: string) => Date.parse(iso);

describe('schedules', () => {
  const weekdays = pool(`      - { name: office, days: weekdays, hours: "09-18", min: 2, buffer: 1 }`);

  it('switch on exactly at the start and off exactly at the end (UTC)', () => {
    expect(effectiveFloor(weekdays, at('2026-01-07T08:59:59.999Z'))).toEqual({
      min: 0,
      buffer: 0,
      schedule: null,
    });
    expect(effectiveFloor(weekdays, at('2026-01-07T09:00:00.000Z'))).toEqual({
      min: 2,
      buffer: 1,
      schedule: 'office',
    });
    expect(effectiveFloor(weekdays, at('2026-01-07T17:59:59.999Z')).schedule).toBe('office');
    expect(effectiveFloor(weekdays, at('2026-01-07T18:00:00.000Z')).schedule).toBeNull();
  });

  it('apply only on the listed days', () => {
    expect(effectiveFloor(weekdays, at('2026-01-10T12:00:00Z')).schedule).toBeNull();
  });

  it('read hours in the schedule offset', () => {
    const berlin = pool(`      - { name: berlin, days: [wed], hours: "09:30-18:00", tz: "+02:00", min: 1 }`);
    expect(effectiveFloor(berlin, at('2026-01-07T07:29:59Z')).schedule).toBeNull();
    expect(effectiveFloor(berlin, at('2026-01-07T07:30:00Z'))).toEqual({
      min: 1,
      buffer: 0,
      schedule: 'berlin',
    });
    expect(effectiveFloor(berlin, at('2026-01-07T16:00:00Z')).schedule).toBeNull();
    expect(effectiveFloor(berlin, at('2026-01-07T15:59:59Z')).schedule).toBe('berlin');
  });

  it('run past midnight into the next day', () => {
    const night = pool(`      - { name: night, days: [fri], hours: "22-06", buffer: 3 }`);
    expect(effectiveFloor(night, at('2026-01-09T21:59:59Z')).schedule).toBeNull();
    expect(effectiveFloor(night, at('2026-01-09T22:00:00Z')).buffer).toBe(3);
    expect(effectiveFloor(night, at('2026-01-10T05:59:59Z')).buffer).toBe(3);
    expect(effectiveFloor(night, at('2026-01-10T06:00:00Z')).schedule).toBeNull();
    // Saturday night is not Friday night.
    expect(effectiveFloor(night, at('2026-01-10T23:00:00Z')).schedule).toBeNull();
  });

  it('the first matching schedule wins; unset fields fall back to the pool', () => {
    const two = pool(`      - { name: lunch, hours: "12-13", buffer: 4 }
      - { name: day, hours: "08-20", min: 1, buffer: 1 }`);
    expect(effectiveFloor(two, at('2026-01-07T12:30:00Z'))).toEqual({ min: 0, buffer: 4, schedule: 'lunch' });
    expect(effectiveFloor(two, at('2026-01-07T13:00:00Z'))).toEqual({ min: 1, buffer: 1, schedule: 'day' });
  });

  it('outside latency_hours the limits say off hours; inside them, and without the setting, they do not', () => {
    const p = {
      ...pool(`      - { name: day, hours: "08-20", min: 1 }`),
      latencyHours: parsePeak('Mon-Fri 12:00-18:00 +01:00'),
    };
    const limits = (iso: string) => poolLimitsAt(p, effectiveFloor(p, at(iso)));
    // Wednesday 11:00 UTC is 12:00 at +01:00: inside. The schedule still applies off hours.
    expect(limits('2026-01-07T11:00:00Z').offHours).toBeUndefined();
    expect(limits('2026-01-07T10:59:59Z')).toMatchObject({ offHours: true, min: 1 });
    expect(limits('2026-01-07T17:00:00Z').offHours).toBe(true);
    expect(limits('2026-01-10T13:00:00Z').offHours).toBe(true);
    const allHours = { ...p, latencyHours: null };
    expect(
      poolLimitsAt(allHours, effectiveFloor(allHours, at('2026-01-10T13:00:00Z'))).offHours,
    ).toBeUndefined();
  });
});
