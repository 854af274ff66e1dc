import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BACKENDS, type TestDb } from './backends.js';
import { MIRROR_MS } from '../../src/store/bucket-mirror.js';
import { countKind, jobInput, makeAccount } from './fixtures.js';

/** Rate tokens taken inside the admission (one commit per submission): the limits stay exact. */
describe.each(BACKENDS)('admission with rate buckets on $name', (backend) => {
  let db: TestDb;
  beforeEach(async () => {
    db = await backend.create();
  });
  afterEach(async () => {
    await db.cleanup();
  });

  const user = { key: 'submit:u:test', ratePerSecond: 2, burst: 3 };
  const account = { key: 'submit:a:test', ratePerSecond: 40, burst: 60 };

  it('admits the burst, then answers rate_limited with the wait and inserts nothing', async () => {
    const acct = await makeAccount(db.store, { max_active_jobs_per_user: 100 });
    const admit = (now: number) => db.store.admitJob(jobInput(acct.id, 'u1', { rate: [user, account] }), now);
    for (let i = 0; i < 3; i++) expect((await admit(0)).kind).toBe('admitted');
    expect(await admit(0)).toEqual({ kind: 'rate_limited', retryAfterMs: 500 });
    expect((await db.store.usage(acct.id, 'u1', 0)).activeJobs).toBe(3);
    expect((await db.store.listJobs({ accountId: acct.id, userId: 'u1', limit: 100 })).jobs).toHaveLength(3);
    // The account bucket lost exactly the three admitted tokens: the refusal rolled its own token back.
    expect(await db.store.peekTokens([account], 0)).toEqual({ allowed: true, retryAfterMs: 0 });
    expect((await db.store.takeTokens([{ ...account, burst: 60 }], 0)).allowed).toBe(true);
    expect((await admit(500)).kind).toBe('admitted');
    expect(await db.store.reconcileCounters()).toEqual([]);
  });

  it('concurrent admissions never pass more than the burst', async () => {
    const acct = await makeAccount(db.store, { max_active_jobs_per_user: 1000 });
    const bucket = { key: 'submit:u:race', ratePerSecond: 1, burst: 7 };
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        db.store.admitJob(jobInput(acct.id, `u${i % 3}`, { rate: [bucket] }), 5_000),
      ),
    );
    expect(countKind(results, 'admitted')).toBe(7);
    expect(countKind(results, 'rate_limited')).toBe(23);
    expect(await db.store.countJobsByStatus()).toMatchObject({ queued: 7 });
  });

  it('a quota refusal spends no token; a replay spends one', async () => {
    const acct = await makeAccount(db.store, { max_active_jobs_per_user: 1 });
    const bucket = { key: 'submit:u:quota', ratePerSecond: 0.001, burst: 3 };
    const first = jobInput(acct.id, 'u1', { rate: [bucket], idempotencyKey: 'k', requestHash: 'h' });
    expect((await db.store.admitJob(first, 0)).kind).toBe('admitted');
    expect((await db.store.admitJob(jobInput(acct.id, 'u1', { rate: [bucket] }), 0)).kind).toBe(
      'quota_exceeded',
    );
    expect((await db.store.admitJob(first, 0)).kind).toBe('replayed');
    // 3 tokens: the first admission and the replay took one each, the quota refusal none.
    expect(await db.store.takeTokens([bucket], 0)).toEqual({ allowed: true, retryAfterMs: 0 });
    expect((await db.store.takeTokens([bucket], 0)).allowed).toBe(false);
  });

  it('peekTokens reads without taking', async () => {
    const bucket = { key: 'peek', ratePerSecond: 1, burst: 1 };
    expect(await db.store.peekTokens([bucket], 0)).toEqual({ allowed: true, retryAfterMs: 0 });
    expect(await db.store.peekTokens([bucket], 0)).toEqual({ allowed: true, retryAfterMs: 0 });
    expect((await db.store.takeTokens([bucket], 0)).allowed).toBe(true);
    expect(await db.store.peekTokens([bucket], 0)).toEqual({ allowed: false, retryAfterMs: 1000 });
    expect(await db.store.peekTokens([bucket], 1000)).toEqual({ allowed: true, retryAfterMs: 0 });
  });

  it('the gate skips its read while this process last left a token, and the admission stays exact', async () => {
    const acct = await makeAccount(db.store, { max_active_jobs_per_user: 100 });
    const bucket = { key: 'submit:u:mirror', ratePerSecond: 0.001, burst: 5 };
    expect((await db.store.takeTokens([bucket], 0)).allowed).toBe(true);
    // Drained behind the store's back (as another process sharing the database could).
    await db.exec(`UPDATE rate_buckets SET tokens = 0 WHERE key = 'submit:u:mirror'`);
    // The gate answers from this process's own take (4 tokens were left), on both backends.
    const gate = await db.store.peekTokens([bucket], 10);
    expect(gate.allowed).toBe(true);
    // The take itself is the truth: the admission is refused and inserts nothing.
    expect((await db.store.admitJob(jobInput(acct.id, 'u1', { rate: [bucket] }), 10)).kind).toBe(
      'rate_limited',
    );
    expect((await db.store.usage(acct.id, 'u1', 0)).activeJobs).toBe(0);
    // A recorded level stands in for a read only briefly.
    expect((await db.store.peekTokens([bucket], MIRROR_MS + 1)).allowed).toBe(false);
  });

  it("an admission's own take feeds the gate: it vouches while that take left a token, then reads", async () => {
    // On Postgres the take is inside the admission's server function; its statement reports what it left.
    const acct = await makeAccount(db.store, { max_active_jobs_per_user: 100 });
    const user = { key: 'submit:u:fed', ratePerSecond: 0.001, burst: 3 };
    const acctBucket = { key: 'submit:a:fed', ratePerSecond: 0.001, burst: 100 };
    const admit = () => db.store.admitJob(jobInput(acct.id, 'u1', { rate: [user, acctBucket] }), 20);
    expect((await admit()).kind).toBe('admitted');
    expect((await admit()).kind).toBe('admitted');
    // One token is left: drained behind the store's back, the gate still answers from the level it was told
    // (the take started from 2, not from what the take itself wrote).
    await db.exec(`UPDATE rate_buckets SET tokens = 0 WHERE key = 'submit:u:fed'`);
    expect((await db.store.peekTokens([user, acctBucket], 20)).allowed).toBe(true);
    await db.exec(`UPDATE rate_buckets SET tokens = 1 WHERE key = 'submit:u:fed'`);
    expect((await admit()).kind).toBe('admitted');
    // That take left none: the gate reads, and the database says empty.
    expect(await db.store.peekTokens([user, acctBucket], 20)).toEqual({
      allowed: false,
      retryAfterMs: 1_000_000,
    });
    expect((await admit()).kind).toBe('rate_limited');
  });

  it('a rate refusal stops the gate vouching for its buckets: the next submission reads again', async () => {
    // A level this process recorded can be stale (another replica's takes, or concurrent takes on Postgres);
    // the admission's refusal is the proof, and the gate must not keep vouching for the rest of MIRROR_MS.
    const acct = await makeAccount(db.store, { max_active_jobs_per_user: 100 });
    const bucket = { key: 'submit:u:refused', ratePerSecond: 0.001, burst: 5 };
    const admit = () => db.store.admitJob(jobInput(acct.id, 'u1', { rate: [bucket] }), 30);
    expect((await admit()).kind).toBe('admitted');
    await db.exec(`UPDATE rate_buckets SET tokens = 0 WHERE key = 'submit:u:refused'`);
    expect((await db.store.peekTokens([bucket], 30)).allowed).toBe(true);
    expect((await admit()).kind).toBe('rate_limited');
    expect(await db.store.peekTokens([bucket], 30)).toEqual({ allowed: false, retryAfterMs: 1_000_000 });
  });

  it("the gate reads the database once this process's last take left less than one token", async () => {
    const bucket = { key: 'submit:u:last', ratePerSecond: 0.001, burst: 2 };
    expect((await db.store.takeTokens([bucket], 0)).allowed).toBe(true);
    expect(await db.store.peekTokens([bucket], 0)).toEqual({ allowed: true, retryAfterMs: 0 });
    expect((await db.store.takeTokens([bucket], 0)).allowed).toBe(true);
    expect((await db.store.peekTokens([bucket], 0)).allowed).toBe(false);
  });
});
