/** The leases a WorkerService's claims handed out (src/workers/claimed-leases.ts): per worker, bounded. */
import { describe, expect, it } from 'vitest';
import { CLAIMED_LEASES_MAX, ClaimedLeases } from '../../src/workers/claimed-leases.js';

describe('ClaimedLeases', () => {
  it("answers the attempt only to the worker that claimed, and forgets a job's end", () => {
    const leases = new ClaimedLeases();
    expect(leases.attemptOf('job_a', 'w1')).toBeNull();
    leases.claimed('job_a', 'w1', 1);
    expect(leases.attemptOf('job_a', 'w1')).toBe(1);
    expect(leases.attemptOf('job_a', 'w2')).toBeNull();
    // A later claim (another worker, or the same one's next attempt) replaces it.
    leases.claimed('job_a', 'w2', 2);
    expect(leases.attemptOf('job_a', 'w1')).toBeNull();
    expect(leases.attemptOf('job_a', 'w2')).toBe(2);
    leases.ended('job_a');
    expect(leases.attemptOf('job_a', 'w2')).toBeNull();
  });

  it('holds at most CLAIMED_LEASES_MAX, the oldest claim going first', () => {
    const leases = new ClaimedLeases();
    for (let i = 0; i < CLAIMED_LEASES_MAX; i++) leases.claimed(`job_${i}`, 'w', 1);
    // Claimed again: it is the newest now, so the next one pushes job_1 out, not job_0.
    leases.claimed('job_0', 'w', 2);
    leases.claimed('job_new', 'w', 1);
    expect(leases.attemptOf('job_0', 'w')).toBe(2);
    expect(leases.attemptOf('job_1', 'w')).toBeNull();
    expect(leases.attemptOf('job_2', 'w')).toBe(1);
    expect(leases.attemptOf('job_new', 'w')).toBe(1);
  });
});
