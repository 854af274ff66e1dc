/**
 * The submit gate's mirror of this process's own bucket takes (src/store/bucket-mirror.ts): it only ever
 * answers "a token is surely left", briefly, and stays bounded however many users submit.
 */
import { describe, expect, it } from 'vitest';
import { BucketMirror, MIRROR_MAX_BUCKETS, MIRROR_MS } from '../../src/store/bucket-mirror.js';

describe('BucketMirror', () => {
  it('vouches for a token only after a take that left one, and only within MIRROR_MS', () => {
    const mirror = new BucketMirror();
    expect(mirror.surelyHasToken('k', 0)).toBe(false);
    mirror.record('k', 1, 100);
    expect(mirror.surelyHasToken('k', 100 + MIRROR_MS)).toBe(true);
    expect(mirror.surelyHasToken('k', 101 + MIRROR_MS)).toBe(false);
    // A clock that went back is no reason to trust the entry.
    expect(mirror.surelyHasToken('k', 99)).toBe(false);
    mirror.record('k', 0.5, 200);
    expect(mirror.surelyHasToken('k', 200)).toBe(false);
  });

  it('a take that began before a refusal, answering after it, does not vouch again (Postgres: concurrent admissions)', () => {
    const mirror = new BucketMirror();
    mirror.record('k', 5, 100);
    // Admission B (began at 200) is refused: the bucket is empty.
    mirror.forget('k', 200);
    // Admission A began at 150, took a token from its snapshot's level, and its answer arrives only now.
    mirror.record('k', 4, 150);
    expect(mirror.surelyHasToken('k', 250)).toBe(false);
    // A take that began after the refusal is news again.
    mirror.record('k', 3, 300);
    expect(mirror.surelyHasToken('k', 300)).toBe(true);
  });

  it('forgets old buckets once it holds MIRROR_MAX_BUCKETS: one entry per user ever seen would leak', () => {
    const mirror = new BucketMirror();
    mirror.record('first', 5, 0);
    for (let i = 1; i < MIRROR_MAX_BUCKETS; i++) mirror.record(`u${i}`, 5, 0);
    // Full, but a bucket it already holds is updated in place.
    mirror.record('first', 4, 0);
    expect(mirror.surelyHasToken('first', 0)).toBe(true);
    // One bucket more starts it over: the earlier ones are read from the database again.
    mirror.record('one-more', 5, 0);
    expect(mirror.surelyHasToken('first', 0)).toBe(false);
    expect(mirror.surelyHasToken('u1', 0)).toBe(false);
    expect(mirror.surelyHasToken('one-more', 0)).toBe(true);
  });
});
