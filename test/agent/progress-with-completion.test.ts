/**
 * A fast prompt's last progress goes with its completion: one commit (SQLite) and one report for progress,
 * outputs and `done`, not a progress commit (or a remote agent's progress request) of its own first. The event
 * log still reads as it happened: progress, then the outputs, then `done`.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { LocalJobChannel } from '../../src/agent/local-job-channel.js';
import { RemoteJobChannel } from '../../src/agent/remote-job-channel.js';
import { issueWorkerToken } from '../../src/api/routes/workers.js';
import type { JobProgress } from '../../src/jobs/types.js';
import { Harness, invertWorkflow } from './harness.js';

let h: Harness;

beforeEach(async () => {
  h = await Harness.create();
});

afterEach(async () => {
  await h.close();
});

class RecordingChannel extends LocalJobChannel {
  readonly progressCalls: JobProgress[] = [];
  readonly completedWith: Array<JobProgress | undefined> = [];
  override async progress(jobId: string, p: JobProgress): Promise<boolean> {
    this.progressCalls.push(p);
    return await super.progress(jobId, p);
  }
  override async complete(
    jobId: string,
    outputs: Parameters<LocalJobChannel['complete']>[1],
    p?: JobProgress,
  ): Promise<Awaited<ReturnType<LocalJobChannel['complete']>>> {
    this.completedWith.push(p);
    return await super.complete(jobId, outputs, p);
  }
}

it('an in-process agent records a fast prompt’s last progress in the completion, before its outputs', async () => {
  const lite = await h.startComfy();
  const channel = new RecordingChannel({ service: h.service, bus: h.bus });
  await h.startAgent(lite.url, { channel, progressIntervalMs: 10_000 });
  const announced: string[] = [];
  const job = await h.admit(invertWorkflow('folded'));
  const unsubscribe = h.bus.subscribe((m) => {
    if (m.kind === 'job_event' && m.jobId === job.id) announced.push(m.ended ? 'ended' : 'event');
  });
  const done = await h.waitForEnd(job.id);
  unsubscribe();
  expect(done.status).toBe('completed');
  expect(channel.progressCalls).toEqual([]);
  expect(channel.completedWith).toEqual([expect.objectContaining({ fraction: 1 })]);
  expect(done.progress).toMatchObject({ fraction: 1 });
  const types = (await h.store.listJobEvents(job.id, 0)).map((e) => e.type);
  expect(types.slice(-3)).toEqual(['progress', 'output', 'done']);
  // The claim's `running`, then the completion: no announcement of a progress commit in between.
  expect(announced.filter((a) => a === 'event').length).toBeLessThanOrEqual(1);
  expect(announced.at(-1)).toBe('ended');
});

it('a remote agent sends a fast prompt’s last progress with its complete report, not as a request of its own', async () => {
  const paths: string[] = [];
  const { url: serverUrl } = await h.startWorkerApi({
    onRequest: (url) => paths.push(url.replace(/\/jobs\/[^/]+\//, '/jobs/{id}/').replace(/\?.*/, '')),
  });
  const { token } = await issueWorkerToken(h.store, 'gpu-1', 'default');
  const lite = await h.startComfy();
  await h.startAgent(lite.url, {
    channel: new RemoteJobChannel({ serverUrl, token }),
    progressIntervalMs: 10_000,
  });
  const job = await h.admit(invertWorkflow('remote-folded'));
  const done = await h.waitForEnd(job.id);
  expect(done.status).toBe('completed');
  expect(done.progress).toMatchObject({ fraction: 1 });
  expect(paths.filter((p) => p.endsWith('/progress'))).toEqual([]);
  expect(paths.filter((p) => p.endsWith('/complete'))).toEqual(['/v1/worker/jobs/{id}/complete']);
  const types = (await h.store.listJobEvents(job.id, 0)).map((e) => e.type);
  expect(types.slice(-3)).toEqual(['progress', 'output', 'done']);
});
