import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BACKENDS, type TestDb } from './backends.js';
import { jobInput, makeAccount } from './fixtures.js';

describe.each(BACKENDS)('leases on $name', (backend) => {
  let db: TestDb;
  beforeEach(async () => {
    db = await backend.create();
  });
  afterEach(async () => {
    await db.cleanup();
  });

  async function admitOne(webhookUrl: string | null = null): Promise<{ accountId: string; jobId: string }> {
    const account = await makeAccount(db.store);
    const r = await db.store.admitJob(jobInput(account.id, 'u1', { webhookUrl }), 1_000);
    if (r.kind !== 'admitted') throw new Error('not admitted');
    return { accountId: account.id, jobId: r.job.id };
  }

  it('an expired lease requeues the job exactly once when two sweepers race', async () => {
    const { jobId } = await admitOne();
    const claimed = await db.store.claimNext('w1', 'default', 1_000, 10_000);
    expect(claimed?.attempts).toBe(1);
    expect(await db.store.expireLeases(3, 10_500)).toEqual([]);
    const [a, b] = await Promise.all([db.store.expireLeases(3, 20_000), db.store.expireLeases(3, 20_000)]);
    expect([...a, ...b]).toEqual([{ jobId, outcome: 'requeued' }]);
    const job = await db.store.getJob(jobId);
    expect(job?.status).toBe('queued');
    expect(job?.workerId).toBeNull();
    // The old worker lost the job: its heartbeat and its result are refused.
    expect(await db.store.renewLease(jobId, 'w1', 1_000, 20_001)).toBe('lost');
    expect(await db.store.completeJob(jobId, 'w1', [], 20_002)).toEqual({ kind: 'lost' });
    expect(await db.store.reconcileCounters()).toEqual([]);
  });

  it('attempts exhausted → failed worker_lost, counters released, webhook enqueued', async () => {
    const { accountId, jobId } = await admitOne('https://example.com/hook');
    await db.store.claimNext('w1', 'default', 1_000, 10_000);
    expect(await db.store.expireLeases(2, 20_000)).toEqual([{ jobId, outcome: 'requeued' }]);
    expect((await db.store.claimNext('w2', 'default', 1_000, 21_000))?.attempts).toBe(2);
    expect(await db.store.expireLeases(2, 30_000)).toEqual([{ jobId, outcome: 'failed' }]);
    const job = await db.store.getJob(jobId);
    expect(job?.status).toBe('failed');
    expect(job?.error?.code).toBe('worker_lost');
    expect((await db.store.usage(accountId, 'u1', 0)).activeJobs).toBe(0);
    expect(await db.store.reconcileCounters()).toEqual([]);
    const deliveries = await db.store.listWebhookDeliveries({ jobId, limit: 10 });
    expect(deliveries.map((d) => d.eventType)).toEqual(['job.failed']);
  });

  it('renewal extends the lease and reports a requested cancel', async () => {
    const { accountId, jobId } = await admitOne();
    await db.store.claimNext('w1', 'default', 1_000, 10_000);
    expect(await db.store.renewLease(jobId, 'w1', 1_000, 10_900)).toBe('held');
    expect(await db.store.expireLeases(3, 11_500)).toEqual([]);
    expect((await db.store.requestCancel(accountId, 'u1', jobId, 11_600)).kind).toBe('cancel_requested');
    expect(await db.store.renewLease(jobId, 'w1', 1_000, 11_700)).toBe('cancel_requested');
    expect(await db.store.expireLeases(3, 30_000)).toEqual([{ jobId, outcome: 'cancelled' }]);
  });

  it('releaseJob requeues, and with cancel requested ends cancelled', async () => {
    const { accountId, jobId } = await admitOne();
    await db.store.claimNext('w1', 'default', 60_000, 10_000);
    const released = await db.store.releaseJob(jobId, 'w1', 3, 'comfy restarted', 11_000);
    expect(released.kind === 'finished' && released.job.status).toBe('queued');
    const requeued = (await db.store.listJobEvents(jobId, 0)).at(-1);
    expect(requeued?.data).toMatchObject({ status: 'queued', reason: 'comfy restarted' });
    await db.store.claimNext('w2', 'default', 60_000, 12_000);
    expect(await db.store.releaseJob(jobId, 'w1', 3, 'stale', 12_500)).toEqual({ kind: 'lost' });
    await db.store.requestCancel(accountId, 'u1', jobId, 13_000);
    const ended = await db.store.releaseJob(jobId, 'w2', 3, 'interrupted', 14_000);
    expect(ended.kind === 'finished' && ended.job.status).toBe('cancelled');
    expect(await db.store.reconcileCounters()).toEqual([]);
  });

  it('progress and job events carry a per-job sequence', async () => {
    const { accountId, jobId } = await admitOne();
    await db.store.claimNext('w1', 'default', 60_000, 10_000);
    // The progress and its event are one commit; a worker that does not hold the job appends nothing.
    expect(await db.store.updateProgress(jobId, 'w1', { value: 1, max: 4, node: '3' }, 10_200)).toBe(true);
    expect(await db.store.updateProgress(jobId, 'w9', { value: 2, max: 4, node: '3' }, 10_300)).toBe(false);
    expect((await db.store.getJob(jobId))?.progress).toEqual({ value: 1, max: 4, node: '3' });
    await db.store.completeJob(jobId, 'w1', [], 11_000);
    const events = await db.store.listJobEvents(jobId, 0);
    expect(events.map((e) => [e.seq, e.type])).toEqual([
      [1, 'status'],
      [2, 'progress'],
      [3, 'done'],
    ]);
    expect(events[1]).toMatchObject({ data: { value: 1, max: 4, node: '3' }, at: 10_200 });
    expect(events[2]?.data).toMatchObject({ status: 'completed' });
    expect((await db.store.listJobEvents(jobId, 2)).map((e) => e.seq)).toEqual([3]);
    expect((await db.store.usage(accountId, 'u1', 0)).jobsToday).toBe(1);
  });

  it.each([null, 'https://example.com/hook'])(
    'the done event of a completed job carries its outputs with URLs (webhook %s)',
    async (webhookUrl) => {
      const { jobId } = await admitOne(webhookUrl);
      await db.store.claimNext('w1', 'default', 60_000, 10_000);
      const output = {
        index: 0,
        nodeId: '9',
        filename: 'out_00001_.png',
        contentType: 'image/png',
        size: 68,
        objectKey: `jobs/${jobId}/outputs/0-out_00001_.png`,
      };
      await db.store.completeJob(jobId, 'w1', [output], 11_000);
      const done = (await db.store.listJobEvents(jobId, 0)).at(-1);
      expect(done?.type).toBe('done');
      expect(done?.data).toEqual({
        status: 'completed',
        error: null,
        outputs: [
          {
            index: 0,
            node_id: '9',
            filename: 'out_00001_.png',
            content_type: 'image/png',
            size: 68,
            url: `/v1/jobs/${jobId}/outputs/0`,
            type: 'output',
          },
        ],
      });
    },
  );
});
