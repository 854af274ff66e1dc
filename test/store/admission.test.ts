import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BACKENDS, type TestDb } from './backends.js';
import { countKind, jobInput, makeAccount } from './fixtures.js';

describe.each(BACKENDS)('admission on $name', (backend) => {
  let db: TestDb;
  beforeEach(async () => {
    db = await backend.create();
  });
  afterEach(async () => {
    await db.cleanup();
  });

  it.each([8, 50])('admits exactly the per-user limit of 5 from %i parallel requests', async (n) => {
    const account = await makeAccount(db.store);
    const results = await Promise.all(
      Array.from({ length: n }, () => db.store.admitJob(jobInput(account.id, 'u1'), 2_000)),
    );
    expect(countKind(results, 'admitted')).toBe(5);
    expect(
      results
        .filter((r) => r.kind === 'quota_exceeded')
        .every((r) => r.kind === 'quota_exceeded' && r.scope === 'user' && r.limit === 5),
    ).toBe(true);
    expect((await db.store.usage(account.id, 'u1', 0)).activeJobs).toBe(5);
    expect((await db.store.listJobs({ accountId: account.id, userId: 'u1', limit: 100 })).jobs).toHaveLength(
      5,
    );
  });

  it('enforces the account-wide limit across users', async () => {
    const account = await makeAccount(db.store, { max_active_jobs: 7, max_active_jobs_per_user: 5 });
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => db.store.admitJob(jobInput(account.id, `u${i % 8}`), 2_000)),
    );
    expect(countKind(results, 'admitted')).toBe(7);
    const rejected = results.filter((r) => r.kind === 'quota_exceeded');
    expect(rejected.some((r) => r.kind === 'quota_exceeded' && r.scope === 'account' && r.limit === 7)).toBe(
      true,
    );
    expect(await db.store.reconcileCounters()).toEqual([]);
  });

  it('a rejection changes nothing and a finished job frees its slot', async () => {
    const account = await makeAccount(db.store, { max_active_jobs_per_user: 1 });
    const first = await db.store.admitJob(jobInput(account.id, 'u1'), 2_000);
    expect(first.kind).toBe('admitted');
    expect((await db.store.admitJob(jobInput(account.id, 'u1'), 2_001)).kind).toBe('quota_exceeded');
    expect(await db.store.reconcileCounters()).toEqual([]);
    if (first.kind !== 'admitted') throw new Error('unreachable');
    expect((await db.store.requestCancel(account.id, 'u1', first.job.id, 2_002)).kind).toBe('cancelled');
    expect((await db.store.admitJob(jobInput(account.id, 'u1'), 2_003)).kind).toBe('admitted');
  });

  it('replays the same idempotency key and body, and rejects another body', async () => {
    const account = await makeAccount(db.store);
    const input = jobInput(account.id, 'u1', { idempotencyKey: 'k1', requestHash: 'h1' });
    const first = await db.store.admitJob(input, 2_000);
    const again = await db.store.admitJob(input, 2_001);
    expect(first.kind).toBe('admitted');
    expect(again.kind).toBe('replayed');
    if (first.kind !== 'admitted' || again.kind !== 'replayed') throw new Error('unreachable');
    expect(again.job.id).toBe(first.job.id);
    expect((await db.store.admitJob({ ...input, requestHash: 'h2' }, 2_002)).kind).toBe(
      'idempotency_conflict',
    );
    // Another user may use the same key independently.
    expect((await db.store.admitJob({ ...input, userId: 'u2' }, 2_003)).kind).toBe('admitted');
    expect((await db.store.usage(account.id, 'u1', 0)).activeJobs).toBe(1);
  });

  it('concurrent requests with one idempotency key create one job', async () => {
    const account = await makeAccount(db.store);
    const input = jobInput(account.id, 'u1', { idempotencyKey: 'same', requestHash: 'h' });
    const results = await Promise.all(Array.from({ length: 10 }, () => db.store.admitJob(input, 2_000)));
    expect(countKind(results, 'admitted')).toBe(1);
    expect(countKind(results, 'replayed')).toBe(9);
    const ids = new Set(results.map((r) => (r.kind === 'admitted' || r.kind === 'replayed' ? r.job.id : '')));
    expect(ids.size).toBe(1);
    expect((await db.store.usage(account.id, 'u1', 0)).activeJobs).toBe(1);
  });

  it('stores and returns the admitted job as given', async () => {
    const account = await makeAccount(db.store);
    const input = jobInput(account.id, 'u1', {
      priority: 3,
      pool: 'gpu',
      metadata: { order: 42 },
      webhookUrl: 'https://example.com/hook',
      inputs: [{ name: 'img', url: 'https://example.com/a.png', filename: 'a.png' }],
      inputsReady: false,
    });
    const admitted = await db.store.admitJob(input, 2_000);
    if (admitted.kind !== 'admitted') throw new Error(`not admitted: ${admitted.kind}`);
    expect(await db.store.getJob(admitted.job.id)).toEqual(admitted.job);
    expect(await db.store.getJobFor(account.id, 'u1', admitted.job.id)).toEqual(admitted.job);
    expect(await db.store.getJobFor(account.id, 'u2', admitted.job.id)).toBeNull();
  });
});
