/**
 * Store.jobLease (who holds a job and in which attempt) and Store.jobOutputKeys (its attempts and output keys),
 * each read without the rest of the row, on every backend: both agree with the full row getJob reads.
 */
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BACKENDS, type TestDb } from './backends.js';
import { jobInput, makeAccount } from './fixtures.js';

describe.each(BACKENDS)('jobLease on $name', (backend) => {
  let db: TestDb;
  beforeEach(async () => {
    db = await backend.create();
  });
  afterEach(async () => {
    await db.cleanup();
  });

  async function admitOne(): Promise<{ accountId: string; jobId: string }> {
    const account = await makeAccount(db.store);
    const r = await db.store.admitJob(jobInput(account.id, 'u1'), 1_000);
    if (r.kind !== 'admitted') throw new Error('not admitted');
    return { accountId: account.id, jobId: r.job.id };
  }

  /** The lease agrees with the full row read by getJob. */
  async function expectLease(jobId: string, lease: unknown): Promise<void> {
    expect(await db.store.jobLease(jobId)).toEqual(lease);
    const job = await db.store.getJob(jobId);
    expect(
      job === null
        ? null
        : {
            status: job.status,
            workerId: job.workerId,
            attempts: job.attempts,
            cancelRequested: job.cancelRequested,
          },
    ).toEqual(lease);
  }

  it('follows the job: queued, held, lost to expiry, held by another worker in a new attempt, ended', async () => {
    const { accountId, jobId } = await admitOne();
    await expectLease(jobId, { status: 'queued', workerId: null, attempts: 0, cancelRequested: false });

    await db.store.claimNext('w1', 'default', 1_000, 10_000);
    await expectLease(jobId, { status: 'running', workerId: 'w1', attempts: 1, cancelRequested: false });

    // Lost: the lease expired and the job went back to the queue.
    expect(await db.store.expireLeases(3, 20_000)).toEqual([{ jobId, outcome: 'requeued' }]);
    await expectLease(jobId, { status: 'queued', workerId: null, attempts: 1, cancelRequested: false });

    // Another worker, another attempt.
    await db.store.claimNext('w2', 'default', 1_000, 21_000);
    await expectLease(jobId, { status: 'running', workerId: 'w2', attempts: 2, cancelRequested: false });

    expect((await db.store.requestCancel(accountId, 'u1', jobId, 21_500)).kind).toBe('cancel_requested');
    await expectLease(jobId, { status: 'running', workerId: 'w2', attempts: 2, cancelRequested: true });

    expect((await db.store.finishCancel(jobId, 'w2', 22_000)).kind).toBe('finished');
    await expectLease(jobId, { status: 'cancelled', workerId: 'w2', attempts: 2, cancelRequested: true });
  });

  it('the same worker reclaiming its requeued job holds it in the next attempt', async () => {
    const { jobId } = await admitOne();
    await db.store.claimNext('w1', 'default', 1_000, 10_000);
    expect((await db.store.releaseJob(jobId, 'w1', 3, 'comfy restarted', 11_000)).kind).toBe('finished');
    await db.store.claimNext('w1', 'default', 1_000, 12_000);
    await expectLease(jobId, { status: 'running', workerId: 'w1', attempts: 2, cancelRequested: false });
  });

  it('jobsHeldBy lists the running jobs of one worker, oldest claim first, and changes nothing', async () => {
    const account = await makeAccount(db.store);
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await db.store.admitJob(jobInput(account.id, 'u1'), 1_000 + i);
      if (r.kind !== 'admitted') throw new Error('not admitted');
      ids.push(r.job.id);
    }
    expect(await db.store.jobsHeldBy('w1')).toEqual([]);
    // w1 claims the first and third, w2 the second; the fourth stays queued.
    const first = await db.store.claimNext('w1', 'default', 1_000, 10_000);
    const second = await db.store.claimNext('w2', 'default', 1_000, 10_001);
    const third = await db.store.claimNext('w1', 'default', 1_000, 10_002);
    expect([first?.id, second?.id, third?.id]).toEqual(ids.slice(0, 3));
    expect(await db.store.jobsHeldBy('w1')).toEqual([ids[0], ids[2]]);
    expect(await db.store.jobsHeldBy('w2')).toEqual([ids[1]]);
    // An ended job is no longer held; the read renewed nothing (the other lease still expires when claimed for).
    expect((await db.store.completeJob(ids[0] ?? '', 'w1', [], 10_500)).kind).toBe('finished');
    expect(await db.store.jobsHeldBy('w1')).toEqual([ids[2]]);
    expect(await db.store.expireLeases(3, 11_003)).toEqual([
      { jobId: ids[1], outcome: 'requeued' },
      { jobId: ids[2], outcome: 'requeued' },
    ]);
    expect(await db.store.jobsHeldBy('w1')).toEqual([]);
  });

  it('releaseJob with startedBefore ends only a lease that began before that time', async () => {
    const { jobId } = await admitOne();
    await db.store.claimNext('w1', 'default', 60_000, 10_000);
    // A lease that began at 10 000 is a later claim's for a give-back as of 10 000: it stays.
    expect(await db.store.releaseJob(jobId, 'w1', 3, 'r', 10_500, false, 10_000)).toEqual({ kind: 'lost' });
    await expectLease(jobId, { status: 'running', workerId: 'w1', attempts: 1, cancelRequested: false });
    const released = await db.store.releaseJob(jobId, 'w1', 3, 'r', 10_600, false, 10_001);
    expect(released).toMatchObject({ kind: 'finished', job: { status: 'queued', attempts: 1 } });
  });

  it('releaseJob with leaseExpiresAt ends only a lease not renewed since it was read', async () => {
    const { jobId } = await admitOne();
    await db.store.claimNext('w1', 'default', 60_000, 10_000);
    // Read as expiring at 70 000, then renewed (a heartbeat at 20 000): the lease stays, and a voluntary release
    // bound to the old value refunds nothing either.
    expect(await db.store.renewLease(jobId, 'w1', 60_000, 20_000)).toBe('held');
    expect(await db.store.releaseJob(jobId, 'w1', 3, 'r', 20_500, false, 20_500, 70_000)).toEqual({
      kind: 'lost',
    });
    expect(await db.store.releaseJob(jobId, 'w1', 1, 'r', 20_500, true, undefined, 70_000)).toEqual({
      kind: 'lost',
    });
    await expectLease(jobId, { status: 'running', workerId: 'w1', attempts: 1, cancelRequested: false });
    // As read now (80 000): given back.
    const released = await db.store.releaseJob(jobId, 'w1', 3, 'r', 20_600, false, 20_600, 80_000);
    expect(released).toMatchObject({ kind: 'finished', job: { status: 'queued', attempts: 1 } });
  });

  it('a voluntary releaseJob with startedBefore refunds nothing of a lease that began later', async () => {
    const { jobId } = await admitOne();
    await db.store.claimNext('w1', 'default', 60_000, 10_000);
    expect(await db.store.releaseJob(jobId, 'w1', 1, 'r', 10_500, true, 10_000)).toEqual({ kind: 'lost' });
    // The attempt was not refunded: with a limit of 1 the worker's own release now spends it.
    const ended = await db.store.releaseJob(jobId, 'w1', 1, 'comfy died', 10_600);
    expect(ended).toMatchObject({
      kind: 'finished',
      job: { status: 'failed', error: { code: 'worker_lost' } },
    });
  });

  it('leasesOfClaims finds a lease by the claim that made it, and no later lease of the same worker', async () => {
    const account = await makeAccount(db.store);
    for (let i = 0; i < 2; i++) await db.store.admitJob(jobInput(account.id, 'u1'), 1_000 + i);
    expect(await db.store.leasesOfClaims('w1', [])).toEqual([]);
    const first = await db.store.claimJob('w1', 'default', 60_000, 10_000, { claimId: 'clm_first' });
    const other = await db.store.claimJob('w2', 'default', 60_000, 10_001, { claimId: 'clm_other' });
    const a = first?.job.id ?? '';
    expect(await db.store.leasesOfClaims('w1', ['clm_first', 'clm_nothing'])).toEqual([
      { jobId: a, leaseExpiresAt: 70_000 },
    ]);
    // Another worker's claim id is not this worker's lease.
    expect(await db.store.leasesOfClaims('w1', ['clm_other'])).toEqual([]);
    expect(await db.store.leasesOfClaims('w2', ['clm_other'])).toEqual([
      { jobId: other?.job.id, leaseExpiresAt: 70_001 },
    ]);
    // The first lease goes back; the same worker's next claim, named otherwise or not at all, is not the first's.
    expect((await db.store.releaseJob(a, 'w1', 3, 'r', 11_000)).kind).toBe('finished');
    expect(await db.store.leasesOfClaims('w1', ['clm_first'])).toEqual([]);
    expect((await db.store.claimJob('w1', 'default', 60_000, 12_000, { claimId: 'clm_later' }))?.job.id).toBe(
      a,
    );
    expect(await db.store.leasesOfClaims('w1', ['clm_first'])).toEqual([]);
    expect(await db.store.leasesOfClaims('w1', ['clm_later'])).toEqual([
      { jobId: a, leaseExpiresAt: 72_000 },
    ]);
    expect((await db.store.releaseJob(a, 'w1', 3, 'r', 13_000)).kind).toBe('finished');
    expect((await db.store.claimJob('w1', 'default', 60_000, 14_000))?.job.id).toBe(a);
    expect(await db.store.leasesOfClaims('w1', ['clm_first', 'clm_later'])).toEqual([]);
  });

  if (backend.name === 'postgres') {
    it('a replica of the previous release keeps claiming with its prepared statement across migration 014', async () => {
      // Back to what the previous release left (013): no claim_id column, no arrakis_claim_as.
      await db.exec(
        `DROP FUNCTION arrakis_claim_as(TEXT, BIGINT, BIGINT, TEXT, INTEGER, BIGINT, TEXT);
         ALTER TABLE jobs DROP COLUMN claim_id; DELETE FROM arrakis_migrations WHERE id = 14`,
      );
      const account = await makeAccount(db.store);
      for (let i = 0; i < 2; i++) await db.store.admitJob(jobInput(account.id, `u${i}`), 1_000 + i);
      // Its claim, as that release prepares it (job-sql.ts claimFunction of 013) on a connection of its own.
      const old = new pg.Client({ connectionString: db.url });
      await old.connect();
      try {
        const claim = (worker: string, at: number) =>
          old.query({
            name: 'claimFunction',
            text: `SELECT c.*,
              (SELECT a.file_node_allowlist FROM accounts a WHERE a.id = c.account_id) AS file_node_allowlist
              FROM arrakis_claim($1, $2, $3, $4, $5, $6) AS c`,
            values: [worker, at + 60_000, at, 'default', 32, 0],
          });
        expect((await claim('w1', 2_000)).rows).toHaveLength(1);
        await db.store.migrate();
        // The same prepared statement after 014: it still claims (a redefined arrakis_claim would make Postgres
        // refuse it: "cached plan must not change result type").
        const after = await claim('w2', 3_000);
        expect(after.rows).toHaveLength(1);
        await expectLease(String(after.rows[0].id), {
          status: 'running',
          workerId: 'w2',
          attempts: 1,
          cancelRequested: false,
        });
        expect(await db.store.leasesOfClaims('w2', ['clm_any'])).toEqual([]);
      } finally {
        await old.end();
      }
    });
  }

  it('reads nothing for an unknown job and changes nothing', async () => {
    expect(await db.store.jobLease('job_missing')).toBeNull();
    const { jobId } = await admitOne();
    await db.store.claimNext('w1', 'default', 1_000, 10_000);
    await db.store.jobLease(jobId);
    // The read did not renew the lease: it still expires when claimed for.
    expect(await db.store.expireLeases(3, 11_001)).toEqual([{ jobId, outcome: 'requeued' }]);
  });

  it('jobOutputKeys follows the job to its outputs, and reads nothing for an unknown job', async () => {
    expect(await db.store.jobOutputKeys('job_missing')).toBeNull();
    const { jobId } = await admitOne();
    const agrees = async (expected: unknown): Promise<void> => {
      expect(await db.store.jobOutputKeys(jobId)).toEqual(expected);
      const job = await db.store.getJob(jobId);
      expect({
        status: job?.status,
        attempts: job?.attempts,
        outputKeys: job?.outputs.map((o) => o.objectKey),
      }).toEqual(expected);
    };
    await agrees({ status: 'queued', attempts: 0, outputKeys: [] });
    await db.store.claimNext('w1', 'default', 1_000, 10_000);
    await agrees({ status: 'running', attempts: 1, outputKeys: [] });
    const outputs = ['a', 'b'].map((name, index) => ({
      index,
      nodeId: '9',
      filename: `${name}.png`,
      contentType: 'image/png',
      size: 3,
      objectKey: `jobs/${jobId}/outputs/1.${index}-${name}.png`,
    }));
    expect((await db.store.completeJob(jobId, 'w1', outputs, 11_000)).kind).toBe('finished');
    await agrees({ status: 'completed', attempts: 1, outputKeys: outputs.map((o) => o.objectKey) });
  });
});
