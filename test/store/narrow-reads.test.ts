/**
 * The narrow reads of the hot path, on every backend: jobStatusFor (an event stream's open) and jobOutputsFor
 * (an output download) read one column of the caller's own job. Each agrees with the full read it replaces, and ownership stays part of the lookup:
 * another account's job reads as missing even when its user id is the same and that account has jobs too.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JobOutput } from '../../src/jobs/types.js';
import { BACKENDS, type TestDb } from './backends.js';
import { jobInput, makeAccount } from './fixtures.js';

describe.each(BACKENDS)('narrow reads on $name', (backend) => {
  let db: TestDb;
  beforeEach(async () => {
    db = await backend.create();
  });
  afterEach(async () => {
    await db.cleanup();
  });

  async function admit(accountId: string, userId: string, now: number): Promise<string> {
    const r = await db.store.admitJob(jobInput(accountId, userId), now);
    if (r.kind !== 'admitted') throw new Error('not admitted');
    return r.job.id;
  }

  /** Both narrow reads agree with the view getJobViewFor reads, for this owner (null when not theirs). */
  async function agree(accountId: string, userId: string, id: string): Promise<void> {
    const view = await db.store.getJobViewFor(accountId, userId, id);
    expect(await db.store.jobStatusFor(accountId, userId, id)).toEqual(view?.status ?? null);
    expect(await db.store.jobOutputsFor(accountId, userId, id)).toEqual(view?.outputs ?? null);
  }

  function outputsOf(id: string): JobOutput[] {
    return ['a', 'b'].map((name, index) => ({
      index,
      nodeId: '9',
      filename: `${name}.png`,
      contentType: 'image/png',
      size: 3 + index,
      objectKey: `jobs/${id}/outputs/1.${index}-${name}.png`,
    }));
  }

  it('jobStatusFor and jobOutputsFor follow the owner’s job, and read nothing of another owner’s', async () => {
    const mine = await makeAccount(db.store);
    const theirs = await makeAccount(db.store);
    // The same user id in both accounts, each with a job: a lookup that ignored the account would find one.
    const job = await admit(mine.id, 'u1', 1_000);
    const other = await admit(theirs.id, 'u1', 2_000);
    const owners: Array<[string, string, string]> = [
      [mine.id, 'u1', job],
      [theirs.id, 'u1', other],
    ];

    expect(await db.store.jobStatusFor(mine.id, 'u1', job)).toBe('queued');
    expect(await db.store.jobOutputsFor(mine.id, 'u1', job)).toEqual([]);
    for (const [account, user, id] of owners) await agree(account, user, id);

    expect((await db.store.claimNext('w1', 'default', 60_000, 3_000))?.id).toBe(job);
    expect(await db.store.jobStatusFor(mine.id, 'u1', job)).toBe('running');
    const outputs = outputsOf(job);
    expect((await db.store.completeJob(job, 'w1', outputs, 4_000)).kind).toBe('finished');
    expect(await db.store.jobStatusFor(mine.id, 'u1', job)).toBe('completed');
    expect(await db.store.jobOutputsFor(mine.id, 'u1', job)).toEqual(outputs);

    // The other account's job ends without outputs.
    expect((await db.store.claimNext('w2', 'default', 60_000, 5_000))?.id).toBe(other);
    const error = { code: 'execution_error' as const, message: 'boom' };
    expect((await db.store.failJob(other, 'w2', error, 6_000)).kind).toBe('finished');
    expect(await db.store.jobStatusFor(theirs.id, 'u1', other)).toBe('failed');
    expect(await db.store.jobOutputsFor(theirs.id, 'u1', other)).toEqual([]);
    for (const [account, user, id] of owners) await agree(account, user, id);

    // Not theirs: another account with the same user id, another user of the same account, an unknown id.
    for (const [account, user, id] of [
      [theirs.id, 'u1', job],
      [mine.id, 'u1', other],
      [mine.id, 'u2', job],
      [mine.id, 'u1', 'job_missing'],
    ] as const) {
      expect(await db.store.jobStatusFor(account, user, id)).toBeNull();
      expect(await db.store.jobOutputsFor(account, user, id)).toBeNull();
    }
  });
});
