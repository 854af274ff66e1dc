/**
 * An agent's model reports go out one at a time: two asked for at once (the idle timer's and the claim loop's
 * after an empty claim, a job's end, a preload) could otherwise reach the control plane the other way round, and
 * the older state would overwrite the newer one in the store. Reports asked for while one is in flight coalesce
 * into one next report, made with the state of that moment.
 */
import { afterEach, expect, it } from 'vitest';
import { LocalJobChannel } from '../../src/agent/local-job-channel.js';
import { ModelKeeper } from '../../src/agent/model-keeper.js';
import type { ModelRef } from '../../src/models/model-refs.js';
import type { LeasedJob, ModelReport } from '../../src/workers/job-channel.js';
import { Harness } from './harness.js';

let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

const REF: ModelRef = { kind: 'checkpoint', name: 'sdxl.safetensors' };

/**
 * Holds the first model report on its way to the control plane (a slow request) until `letFirstThrough`,
 * and records how many reports were on their way at once.
 */
class SlowFirstReport extends LocalJobChannel {
  sent: ModelReport[] = [];
  inFlight = 0;
  mostInFlight = 0;
  letFirstThrough: () => void = () => {};
  private readonly held = new Promise<void>((resolve) => (this.letFirstThrough = resolve));
  override async reportModels(report: ModelReport): Promise<ModelRef[]> {
    this.inFlight++;
    this.mostInFlight = Math.max(this.mostInFlight, this.inFlight);
    const first = this.sent.length === 0;
    this.sent.push(report);
    try {
      if (first) await this.held;
      return await super.reportModels(report);
    } finally {
      this.inFlight--;
    }
  }
}

it('stores the newest state when a report is asked for while an older one is on its way', async () => {
  h = await Harness.create();
  const lite = await h.startComfy();
  const channel = new SlowFirstReport({ service: h.service, bus: h.bus });
  const workerId = await channel.register({ name: 'reporter', pool: 'default', comfyUrl: lite.url });
  const keeper = new ModelKeeper({ channel, comfyUrl: lite.url });

  // The idle turn's report leaves with nothing resident, and is slow to arrive.
  const idleTurn = keeper.idle();
  // Meanwhile a job that loaded REF completes (its report: REF resident), and two more idle turns ask.
  const job: LeasedJob = {
    id: 'job-1',
    workflow: {},
    inputs: [],
    attempt: 1,
    leaseMs: 30_000,
    models: [REF],
  };
  const finished = keeper.finish(job, { tier: 'disk', startedAt: Date.now(), fetchSeconds: 0 }, true, null);
  const more = [keeper.idle(), keeper.idle()];
  // Give the reports asked for meanwhile every chance to overtake the slow one before it arrives.
  await new Promise((resolve) => setTimeout(resolve, 100));
  channel.letFirstThrough();
  await Promise.all([idleTurn, finished, ...more]);

  const stored = (await h.store.getWorker(workerId))?.models;
  expect(stored?.warm).toEqual([REF.name]);
  expect(channel.mostInFlight).toBe(1);
  // The three asked for meanwhile went out as one, with the state after the job.
  expect(channel.sent.map((r) => r.warm)).toEqual([[], [REF.name]]);
});
