import { describe, expect, it } from 'vitest';
import {
  DEFAULT_WEBHOOK_RETRY,
  nextRetryDelay,
  parseRetryAfter,
  parseRetrySchedule,
} from '../../src/webhooks/retry-schedule.js';

describe('parseRetrySchedule', () => {
  it('turns the documented default into milliseconds', () => {
    expect(parseRetrySchedule(DEFAULT_WEBHOOK_RETRY).delaysMs).toEqual([
      1000, 5000, 30_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000,
    ]);
  });

  it('accepts milliseconds, fractions and spaces', () => {
    expect(parseRetrySchedule('50ms, 0.5s ,2m').delaysMs).toEqual([50, 500, 120_000]);
  });

  it.each(['', '5', '1x', '1s,,2s', '0ms', '200h', '-1s', 'soon'])(
    'rejects %j naming --webhook-retry',
    (text) => {
      expect(() => parseRetrySchedule(text)).toThrow(/--webhook-retry.*expected comma-separated delays/);
    },
  );

  it('says which delay is wrong', () => {
    expect(() => parseRetrySchedule('1s,5s,oops')).toThrow(/\(delay 3\)/);
  });
});

describe('nextRetryDelay', () => {
  const schedule = parseRetrySchedule('1s,10s', 60_000);

  it('applies ±20 % jitter around the listed delay', () => {
    expect(nextRetryDelay(schedule, 1, null, () => 0)).toBe(800);
    expect(nextRetryDelay(schedule, 1, null, () => 0.5)).toBe(1000);
    expect(nextRetryDelay(schedule, 1, null, () => 0.999_999)).toBe(1200);
    expect(nextRetryDelay(schedule, 2, null, () => 0.5)).toBe(10_000);
  });

  it('returns null once the schedule is spent (first attempt + one retry per delay)', () => {
    expect(nextRetryDelay(schedule, 3, null)).toBeNull();
  });

  it('honours a larger Retry-After, capped', () => {
    expect(nextRetryDelay(schedule, 1, 30_000, () => 0.5)).toBe(30_000);
    expect(nextRetryDelay(schedule, 1, 3_600_000, () => 0.5)).toBe(60_000);
    expect(nextRetryDelay(schedule, 2, 2000, () => 0.5)).toBe(10_000);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');

  it('reads delta-seconds', () => {
    expect(parseRetryAfter('120', now)).toBe(120_000);
  });

  it('reads an HTTP date', () => {
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0);
  });

  it.each([null, undefined, '', 'soon', '-5', '1.5', '2026-01-01'])('ignores %j', (value) => {
    expect(parseRetryAfter(value, now)).toBeNull();
  });
});
