import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Job } from '../../src/jobs/types.js';
import { BACKENDS, type TestDb } from './backends.js';
import { jobInput, makeAccount } from './fixtures.js';

const JOBS = 200;

describe.each(BACKENDS)('cancel races on $name', (backend) => {
  let db: TestDb;
  beforeEach(async () => {
    db = await backend.create({ poolSize: 24 });
  });
  afterEach(async () => {
    await db.cleanup();
  });

  async function runningJobs(accountId: string): Promise<Job[]> {
    for (let i = 0; i < JOBS; i++) {
      const r = await db.store.admitJob(
        jobInput(accountId, `u${i % 10}`, { webhookUrl: 'https://example.com/h' }),
        1_000 + i,
      );
      if (r.kind !== 'admitted') throw new Error(`setup admission failed: ${r.kind}`);
    }
    const jobs: Job[] = [];
    for (let i = 0; i < JOBS; i++) {
      const job = await db.store.claimNext(`w${i}`, 'default', 60_000, 5_000);
      if (job === null) throw new Error('setup claim found nothing');
      jobs.push(job);
    }
    return jobs;
  }

  it(`${JOBS} cancel-vs-complete races never complete after an accepted cancel nor leak counters`, async () => {
    const account = await makeAccount(db.store, { max_active_jobs: 1_000, max_active_jobs_per_user: 100 });
    const jobs = await runningJobs(account.id);
    const outcomes = await Promise.all(
      jobs.map(async (job, i) => {
        const cancel = () => db.store.requestCancel(account.id, job.userId, job.id, 6_000);
        const complete = () => db.store.completeJob(job.id, job.workerId ?? '', [], 6_000);
        // Alternate which call is issued first so both orders are exercised.
        if (i % 2 === 0) {
          const [c, f] = await Promise.all([cancel(), complete()]);
          return { c, f };
        }
        const [f, c] = await Promise.all([complete(), cancel()]);
        return { c, f };
      }),
    );
    let accepted = 0;
    for (const [i, { c, f }] of outcomes.entries()) {
      const final = await db.store.getJob(jobs[i]!.id);
      expect(f.kind).toBe('finished');
      if (c.kind === 'cancel_requested' || c.kind === 'cancelled') {
        accepted++;
        expect(final?.status).toBe('cancelled');
      } else {
        expect(c.kind).toBe('finished');
        expect(final?.status).toBe('completed');
      }
    }
    expect(accepted).toBeGreaterThan(0);
    expect(await db.store.reconcileCounters()).toEqual([]);
    for (let u = 0; u < 10; u++) expect((await db.store.usage(account.id, `u${u}`, 0)).activeJobs).toBe(0);
    const deliveries = await db.store.listWebhookDeliveries({ accountId: account.id, limit: 10 * JOBS });
    expect(deliveries).toHaveLength(JOBS);
    expect(new Set(deliveries.map((d) => d.jobId)).size).toBe(JOBS);
  });

  it('cancel racing a claim of a queued job ends cancelled exactly once', async () => {
    const account = await makeAccount(db.store, { max_active_jobs: 1_000, max_active_jobs_per_user: 100 });
    const ids: string[] = [];
    for (let i = 0; i < 60; i++) {
      const r = await db.store.admitJob(jobInput(account.id, 'u1'), 1_000 + i);
      if (r.kind === 'admitted') ids.push(r.job.id);
    }
    const results = await Promise.all(
      ids.flatMap((id, i) => [
        db.store.requestCancel(account.id, 'u1', id, 2_000),
        db.store.claimNext(`w${i}`, 'default', 60_000, 2_000),
      ]),
    );
    expect(results.length).toBe(120);
    expect(await db.store.reconcileCounters()).toEqual([]);
    const page = await db.store.listJobs({ accountId: account.id, userId: 'u1', limit: 100 });
    expect(
      page.jobs.every((j) => j.status === 'cancelled' || (j.status === 'running' && j.cancelRequested)),
    ).toBe(true);
  });

  it('a cancel after completion answers finished and the job stays completed', async () => {
    const account = await makeAccount(db.store);
    const admitted = await db.store.admitJob(jobInput(account.id, 'u1'), 1_000);
    if (admitted.kind !== 'admitted') throw new Error('not admitted');
    const job = await db.store.claimNext('w1', 'default', 60_000, 2_000);
    expect(job?.id).toBe(admitted.job.id);
    expect((await db.store.completeJob(admitted.job.id, 'w1', [], 3_000)).kind).toBe('finished');
    const c = await db.store.requestCancel(account.id, 'u1', admitted.job.id, 4_000);
    expect(c.kind).toBe('finished');
    expect((await db.store.getJob(admitted.job.id))?.status).toBe('completed');
    expect((await db.store.requestCancel(account.id, 'u2', admitted.job.id, 4_000)).kind).toBe('not_found');
  });
});
