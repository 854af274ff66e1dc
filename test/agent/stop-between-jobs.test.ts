/**
 * An agent told to stop right after a job, while its claim for the next one is on its way, claims nothing more:
 * a job queued meanwhile stays queued for another worker (no claim spent on it, no `running` and requeue around
 * it).
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
