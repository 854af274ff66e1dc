/** The one retry style: capped exponential delays with jitter, and one log line per outage. */
import { describe, expect, it } from 'vitest';
import { Backoff, Retry } from '../../src/util/backoff.js';

describe('backoff', () => {
  it('doubles from min to max, with jitter only ever shortening a delay', () => {
    const b = new Backoff({ minMs: 100, maxMs: 1000, random: () => 0 });
    expect([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([
      100, 200, 400, 800, 1000, 1000,
    ]);
    b.reset();
    expect(b.next()).toBe(100);
    const jittered = new Backoff({ minMs: 1000, maxMs: 1000, jitter: 0.25, random: () => 1 });
    expect(jittered.next()).toBe(750);
  });

  it('logs the first failure of an outage and its recovery, not every attempt', () => {
    const lines: string[] = [];
    const log = {
      warn: (_d: object, m: string) => lines.push(`warn ${m}`),
      info: (_d: object, m: string) => lines.push(`info ${m}`),
    };
    const r = new Retry('claiming', log, { minMs: 10, maxMs: 40, random: () => 0 });
    const delays = [1, 2, 3, 4, 5].map(() => r.failed(new Error('ECONNREFUSED')));
    expect(delays).toEqual([10, 20, 40, 40, 40]);
    expect(r.failing).toBe(true);
    r.succeeded();
    r.succeeded();
    expect(lines).toEqual([
      'warn claiming failed; retrying with backoff (logged once until it recovers)',
      'info claiming recovered',
    ]);
    expect(r.failed(new Error('again'))).toBe(10);
    expect(lines).toHaveLength(3);
  });
});
