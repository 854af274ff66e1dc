/**
 * Between two jobs. Right after a job an agent claims the next one with a wait (one claim per job: one statement
 * on an empty queue, one call from a remote agent), and takes a job that comes meanwhile at once. Told to stop
 * while that claim is on its way, it claims nothing more: a job queued meanwhile stays queued for another worker
 * (no claim spent on it, no `running` and requeue around it).
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/agent.js';
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

/** Runs `during` once, while the claim after the first job waits (it starts with the second claim). */
class StopDuringClaim extends LocalJobChannel {
  during: (() => Promise<void>) | null = null;
  private claims = 0;
  override async claim(waitMs: number, signal?: AbortSignal): Promise<LeasedJob | null> {
    this.claims++;
    const during = this.during;
    if (this.claims === 2 && during !== null) {
      this.during = null;
      setTimeout(() => void during(), 50);
    }
    return await super.claim(waitMs, signal);
  }
}

it('claims no job once told to stop during the claim after a job', async () => {
  const lite = await h.startComfy();
  const channel = new StopDuringClaim({ service: h.service, bus: h.bus });
  let agent: Agent | null = null;
  let stopping: Promise<void> | null = null;
  let queued: string | null = null;
  channel.during = async () => {
    stopping = agent!.stop();
    queued = (await h.admit(invertWorkflow('after-stop'))).id;
  };
  agent = await h.startAgent(lite.url, { channel });
  const first = await h.admit(invertWorkflow('before-stop'));
  expect((await h.waitForEnd(first.id)).status).toBe('completed');
  const deadline = Date.now() + 10_000;
  while (stopping === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  await stopping;
  const job = await h.store.getJob(queued!);
  expect(job?.status).toBe('queued');
  expect(job?.attempts).toBe(0);
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
