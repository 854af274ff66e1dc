/**
 * The cancel long-poll's wait (WorkerService.waitForCancel): it answers as soon as a cancel is accepted or the
 * job ends under the worker (so the agent's poll ends by itself and keeps its connection), and a `resync` makes
 * it re-read the lease rather than report a cancel nobody asked for.
 */
import { describe, expect, it } from 'vitest';
import { JobLifecycle } from '../../src/jobs/lifecycle/job-lifecycle.js';
import { BACKENDS } from '../store/backends.js';
import { claimedThroughService, useWorkerService } from './service-fixture.js';

/** Far longer than any answer below takes: a wait still pending after STILL_WAITING_MS never woke. */
const WAIT_MS = 60_000;
const STILL_WAITING_MS = 10_000;

/** The wait's answer, or 'still waiting' when it has not answered within STILL_WAITING_MS. */
function answerOf(wait: Promise<string>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const still = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve('still waiting'), STILL_WAITING_MS);
  });
  return Promise.race([wait, still]).finally(() => clearTimeout(timer));
}

describe.each(BACKENDS)('the cancel wait on $name', (backend) => {
  const fx = useWorkerService(backend);

  const claimedBy = (workerId: string) => claimedThroughService(fx, workerId);

  it('answers lost as soon as the job completes under the worker', async () => {
    const { jobId } = await claimedBy('w1');
    const abort = new AbortController();
    const wait = fx.service.waitForCancel(jobId, 'w1', WAIT_MS, abort.signal);
    expect((await fx.service.complete(jobId, 'w1', [])).kind).toBe('finished');
    const answer = await answerOf(wait);
    abort.abort();
    expect(answer).toBe('lost');
  });

  it('answers cancel_requested as soon as a cancel is accepted', async () => {
    const { accountId, jobId } = await claimedBy('w1');
    const abort = new AbortController();
    const wait = fx.service.waitForCancel(jobId, 'w1', WAIT_MS, abort.signal);
    const cancel = await fx.db.store.requestCancel(accountId, 'u1', jobId, Date.now());
    expect(cancel.kind).toBe('cancel_requested');
    await fx.bus.publish({ kind: 'cancel', jobId });
    const answer = await answerOf(wait);
    abort.abort();
    expect(answer).toBe('cancel_requested');
  });

  it('answers lost as soon as the job goes back to the queue (its lease expired and was swept)', async () => {
    const { jobId } = await claimedBy('w1');
    const abort = new AbortController();
    const wait = fx.service.waitForCancel(jobId, 'w1', WAIT_MS, abort.signal);
    const sweeper = new JobLifecycle({ store: fx.db.store, bus: fx.bus, now: () => Date.now() + 60_000 });
    expect(await sweeper.expireLeases(3)).toEqual([{ jobId, outcome: 'requeued' }]);
    const answer = await answerOf(wait);
    abort.abort();
    expect(answer).toBe('lost');
  });

  it('a progress event does not answer the wait', async () => {
    const { jobId } = await claimedBy('w1');
    const wait = fx.service.waitForCancel(jobId, 'w1', 500);
    expect(await fx.service.progress(jobId, 'w1', { value: 1, max: 2, node: '3' })).toBe(true);
    expect(await wait).toBe('held');
  });

  it('re-reads the lease on a resync: held, not a cancel', async () => {
    const { jobId } = await claimedBy('w1');
    const wait = fx.service.waitForCancel(jobId, 'w1', 500);
    await fx.bus.publish({ kind: 'resync' });
    expect(await wait).toBe('held');
  });

  it("another job's end does not answer the wait", async () => {
    const { jobId } = await claimedBy('w1');
    const other = await claimedBy('w2');
    const wait = fx.service.waitForCancel(jobId, 'w1', 500);
    expect((await fx.service.complete(other.jobId, 'w2', [])).kind).toBe('finished');
    expect(await wait).toBe('held');
  });
});
