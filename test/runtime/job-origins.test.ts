/** The telemetry's memory of submissions: bounded, oldest out first, stale entries absent, empty again cleanly. */
import { describe, expect, it } from 'vitest';
import { RecentOrigins } from '../../src/runtime/job-origins.js';

describe('RecentOrigins', () => {
  it('keeps at most `max` entries, dropping the oldest set first', () => {
    const origins = new RecentOrigins<string>(3, 60_000);
    for (const id of ['a', 'b', 'c', 'd']) origins.set(id, `req-${id}`);
    expect(origins.size).toBe(3);
    expect(origins.get('a')).toBeUndefined();
    expect(origins.get('d')).toBe('req-d');
    // Setting a key again makes it the newest.
    origins.set('b', 'req-b2');
    origins.set('e', 'req-e');
    expect(origins.get('c')).toBeUndefined();
    expect(origins.get('b')).toBe('req-b2');
  });

  it('reads an entry past its time to live as absent, and forgets it', () => {
    let now = 0;
    const origins = new RecentOrigins<string>(10, 1_000, () => now);
    origins.set('a', 'req-a');
    now = 999;
    expect(origins.get('a')).toBe('req-a');
    now = 1_000;
    expect(origins.get('a')).toBeUndefined();
    expect(origins.size).toBe(0);
  });

  it('empties and fills again (the last job ending, then the next one)', () => {
    const origins = new RecentOrigins<string>(50_000, 60_000);
    for (let i = 0; i < 1_000; i++) {
      origins.set(`job_${i}`, `req-${i}`);
      expect(origins.get(`job_${i}`)).toBe(`req-${i}`);
      origins.delete(`job_${i}`);
      expect(origins.size).toBe(0);
    }
  });
});
