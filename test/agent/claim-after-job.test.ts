/**
 * Right after a job, an agent claims the next one with a wait, and a job that comes meanwhile is taken at once:
 * one claim (one statement on an empty queue, one call from a remote agent) per job, not a claim without waiting
 * followed by a waiting one.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { LocalJobChannel } from '../../src/agent/local-job-channel.js';
import type { LeasedJob } from '../../src/workers/job-channel.js';
import { Harness, invertWorkflow } from './harness.js';

let h: Harness;

beforeEach(async () => {
  h = await Harness.create();
});

afterEach(async () => {
  await h.close();
});

/** Records each claim's wait. */
class CountedClaims extends LocalJobChannel {
  readonly waits: number[] = [];
  override async claim(waitMs: number, signal?: AbortSignal): Promise<LeasedJob | null> {
    this.waits.push(waitMs);
    return await super.claim(waitMs, signal);
  }
}

it('claims after a job with a wait, never without one, and takes the next job as it comes', async () => {
  const lite = await h.startComfy();
  const channel = new CountedClaims({ service: h.service, bus: h.bus });
  await h.startAgent(lite.url, { channel });
  const first = await h.admit(invertWorkflow('first'));
  expect((await h.waitForEnd(first.id)).status).toBe('completed');
  await new Promise((r) => setTimeout(r, 100));
  const second = await h.admit(invertWorkflow('second'));
  expect((await h.waitForEnd(second.id)).status).toBe('completed');
  // One claim for each job (the idle one that took the first, the one after it that took the second), and the
  // one waiting after the second: none of them without a wait.
  expect(channel.waits.length).toBeGreaterThanOrEqual(2);
  expect(channel.waits.filter((ms) => ms === 0)).toEqual([]);
});
