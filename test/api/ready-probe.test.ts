/** /readyz's database check: cached for a second, one check in flight, and a check that hangs counts as down. */
import { describe, expect, it } from 'vitest';
import { cachedProbe } from '../../src/api/routes/ops.js';

describe('readiness probe', () => {
  it('asks the database at most once per second and shares a check in flight', async () => {
    let t = 0;
    let calls = 0;
    let up = true;
    const probe = cachedProbe(
      async () => {
        calls++;
        return up;
      },
      () => t,
    );
    expect(await Promise.all([probe(), probe(), probe()])).toEqual([true, true, true]);
    expect(calls).toBe(1);
    up = false;
    t = 999;
    expect(await probe()).toBe(true);
    t = 1000;
    expect(await probe()).toBe(false);
    expect(calls).toBe(2);
  });

  it('a check that fails or never answers means not ready', async () => {
    expect(await cachedProbe(() => Promise.reject(new Error('ECONNREFUSED')))()).toBe(false);
    const hanging = cachedProbe(() => new Promise<boolean>(() => {}));
    expect(await hanging()).toBe(false);
  });
});
