/**
 * One pool rule in the store: a job's pool is concrete and claimed by equality (a worker of another pool never
 * takes it, the default pool's worker does), fleet activity and usage count it under that pool, and rows
 * written before the rule (NULL pool) are adopted into the default pool by an idempotent verb.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BACKENDS, type TestDb } from './backends.js';
import { jobInput, makeAccount } from './fixtures.js';

describe.each(BACKENDS)('pools on $name', (backend) => {
  let db: TestDb;
  beforeEach(async () => {
    db = await backend.create();
  });
  afterEach(async () => {
    await db.cleanup();
  });

  it("only the job's own pool claims it; activity and usage count it there", async () => {
    const account = await makeAccount(db.store, { max_active_jobs_per_user: 10 });
    const t0 = Date.now() - 60_000;
    const admitted = await db.store.admitJob(jobInput(account.id, 'u1', { pool: 'default' }), t0);
    if (admitted.kind !== 'admitted') throw new Error('not admitted');
    expect(admitted.job.pool).toBe('default');
    expect(await db.store.claimNext('w-gpu', 'gpu', 60_000, t0 + 1_000)).toBeNull();
    expect((await db.store.countJobsByStatus('gpu')).queued).toBe(0);
    expect((await db.store.countJobsByStatus('default')).queued).toBe(1);
    expect((await db.store.fleetActivity(['gpu'], t0 - 1)).arrivals).toEqual([]);
    expect(await db.store.fleetActivity(['default'], t0 - 1)).toEqual({
      arrivals: [t0],
      activeUsers: [`${account.id}/u1`],
    });
    const claimed = await db.store.claimNext('w-default', 'default', 60_000, t0 + 2_000);
    expect(claimed?.id).toBe(admitted.job.id);
    await db.store.completeJob(admitted.job.id, 'w-default', [], t0 + 4_000);
    expect(await db.store.accountUsage(account.id, 0)).toEqual([{ pool: 'default', jobs: 1, runSeconds: 2 }]);
  });

  it('jobs stored without a pool are adopted into the default pool, once', async () => {
    const account = await makeAccount(db.store, { max_active_jobs_per_user: 10 });
    const legacy = await db.store.admitJob(jobInput(account.id, 'u1'), 2_000);
    const gpu = await db.store.admitJob(jobInput(account.id, 'u1', { pool: 'gpu' }), 2_001);
    if (legacy.kind !== 'admitted' || gpu.kind !== 'admitted') throw new Error('not admitted');
    // What a version before the pool rule wrote for a job that named no pool.
    await db.exec(`UPDATE jobs SET pool = NULL WHERE id = '${legacy.job.id}'`);
    expect(await db.store.claimNext('w1', 'default', 60_000, 3_000)).toBeNull();

    expect(await db.store.adoptUnpooledJobs('main')).toBe(1);
    expect(await db.store.adoptUnpooledJobs('main')).toBe(0);
    expect((await db.store.getJob(legacy.job.id))?.pool).toBe('main');
    expect((await db.store.getJob(gpu.job.id))?.pool).toBe('gpu');
    expect((await db.store.claimNext('w1', 'main', 60_000, 3_000))?.id).toBe(legacy.job.id);
  });
});
