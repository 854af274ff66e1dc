/** A terminal report that fails on the way (a network blip) is retried, never turned into a re-run. */
import { afterEach, describe, expect, it } from 'vitest';
import { LocalJobChannel } from '../../src/agent/local-job-channel.js';
import { runJob } from '../../src/agent/run-job.js';
import type { JobOutput, JobProgress } from '../../src/jobs/types.js';
import type { ReportResult } from '../../src/workers/job-channel.js';
import { Harness, invertWorkflow, testComfyClient } from './harness.js';

let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

/** A channel whose first `complete` call fails as a dropped connection would. */
class FlakyChannel extends LocalJobChannel {
  failures = 1;
  override async complete(
    jobId: string,
    outputs: JobOutput[],
    progress?: JobProgress,
  ): Promise<ReportResult> {
    if (this.failures-- > 0) throw new Error('socket hang up');
    return await super.complete(jobId, outputs, progress);
  }
}

describe('run-job reports', () => {
  it('retries a failed complete and the job ends completed, run once', async () => {
    h = await Harness.create();
    const lite = await h.startComfy();
    const prompts: unknown[] = [];
    lite.events.on('prompt', (p) => prompts.push(p));
    const channel = new FlakyChannel({ service: h.service, bus: h.bus });
    await channel.register({ name: 'flaky', pool: 'default', comfyUrl: lite.url });
    const admitted = await h.admit(invertWorkflow());
    const job = await channel.claim(1000);
    expect(job?.id).toBe(admitted.id);
    const comfy = testComfyClient(lite.url);
    const result = await runJob({ channel, comfy, job: job!, timeoutMs: 10_000 });
    await comfy.close();
    expect(result.outcome).toBe('completed');
    expect(channel.failures).toBe(-1);
    expect((await h.store.getJob(admitted.id))!.status).toBe('completed');
    expect(prompts).toHaveLength(1);
  });
});
