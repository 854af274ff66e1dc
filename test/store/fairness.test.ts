import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BACKENDS, type TestDb } from './backends.js';
import { jobInput, makeAccount } from './fixtures.js';

describe.each(BACKENDS)('fair claims on $name', (backend) => {
  let db: TestDb;
  beforeEach(async () => {
    db = await backend.create();
  });
  afterEach(async () => {
    await db.cleanup();
  });

  it('a user with 20 queued does not starve a user with 2 queued later', async () => {
    const account = await makeAccount(db.store, { max_active_jobs_per_user: 50 });
    for (let i = 0; i < 20; i++) await db.store.admitJob(jobInput(account.id, 'A'), 1_000 + i);
    for (let i = 0; i < 2; i++) await db.store.admitJob(jobInput(account.id, 'B'), 2_000 + i);
    const owners: string[] = [];
    for (let i = 0; i < 4; i++) {
      const job = await db.store.claimNext(`w${i}`, 'default', 60_000, 3_000);
      owners.push(job?.userId ?? 'none');
    }
    expect(owners).toEqual(['A', 'B', 'A', 'B']);
  });

  it('among equally busy users, higher priority then older goes first', async () => {
    const account = await makeAccount(db.store);
    const low = await db.store.admitJob(jobInput(account.id, 'A', { priority: 0 }), 1_000);
    const high = await db.store.admitJob(jobInput(account.id, 'B', { priority: 5 }), 2_000);
    const old = await db.store.admitJob(jobInput(account.id, 'C', { priority: 0 }), 500);
    const order = [];
    for (let i = 0; i < 3; i++) order.push((await db.store.claimNext(`w${i}`, 'default', 60_000, 3_000))?.id);
    const id = (r: typeof low) => (r.kind === 'admitted' ? r.job.id : '');
    expect(order).toEqual([id(high), id(old), id(low)]);
    expect(await db.store.claimNext('w9', 'default', 60_000, 3_000)).toBeNull();
  });

  it('claims respect pools and wait for inputs', async () => {
    const account = await makeAccount(db.store);
    await db.store.admitJob(jobInput(account.id, 'A', { pool: 'big' }), 1_000);
    const fetching = await db.store.admitJob(jobInput(account.id, 'B', { inputsReady: false }), 1_001);
    expect(await db.store.claimNext('w1', 'default', 60_000, 2_000)).toBeNull();
    expect(await db.store.claimNext('w1', 'small', 60_000, 2_000)).toBeNull();
    expect((await db.store.claimNext('w1', 'big', 60_000, 2_000))?.pool).toBe('big');
    if (fetching.kind !== 'admitted') throw new Error('not admitted');
    const leased = await db.store.claimInputFetches('f1', 10, 30_000, 2_000);
    expect(leased.map((j) => j.id)).toEqual([fetching.job.id]);
    expect(await db.store.claimInputFetches('f2', 10, 30_000, 2_001)).toEqual([]);
    const inputs = [{ name: 'img', filename: 'a.png', objectKey: 'in/a.png' }];
    expect(await db.store.markInputsReady(fetching.job.id, inputs)).toBe(true);
    // Its pool is `default`: another pool's worker never takes it.
    expect(await db.store.claimNext('w2', 'small', 60_000, 2_003)).toBeNull();
    const claimed = await db.store.claimNext('w2', 'default', 60_000, 2_003);
    expect(claimed?.id).toBe(fetching.job.id);
    expect(claimed?.inputs).toEqual(inputs);
  });

  it('concurrent claimers never take the same job', async () => {
    const account = await makeAccount(db.store, { max_active_jobs: 500, max_active_jobs_per_user: 100 });
    for (let i = 0; i < 40; i++) await db.store.admitJob(jobInput(account.id, `u${i % 4}`), 1_000 + i);
    const claims = await Promise.all(
      Array.from({ length: 50 }, (_, i) => db.store.claimNext(`w${i}`, 'default', 60_000, 2_000)),
    );
    const ids = claims.filter((j) => j !== null).map((j) => j.id);
    expect(ids).toHaveLength(40);
    expect(new Set(ids).size).toBe(40);
    expect(await db.store.reconcileCounters()).toEqual([]);
  });
});
