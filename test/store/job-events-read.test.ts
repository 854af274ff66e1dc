/**
 * Store.listJobEvents on every backend: the log after a seq, in order, and a malformed row named, not cast.
 * Store.jobEventSeqs: each job's last event seq, for more ids than one statement takes.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BACKENDS, type TestDb } from './backends.js';
import { jobInput, makeAccount } from './fixtures.js';

describe.each(BACKENDS)('listJobEvents on $name', (backend) => {
  let db: TestDb;
  beforeEach(async () => {
    db = await backend.create();
  });
  afterEach(async () => {
    await db.cleanup();
  });

  async function finishedJob(): Promise<string> {
    const account = await makeAccount(db.store);
    const r = await db.store.admitJob(jobInput(account.id, 'u1'), 1_000);
    if (r.kind !== 'admitted') throw new Error('not admitted');
    const id = r.job.id;
    await db.store.claimNext('w1', 'default', 60_000, 2_000);
    const output = {
      index: 0,
      nodeId: '9',
      filename: 'a.png',
      contentType: 'image/png',
      size: 3,
      objectKey: `jobs/${id}/outputs/1.0-a.png`,
    };
    expect((await db.store.completeJob(id, 'w1', [output], 3_000)).kind).toBe('finished');
    return id;
  }

  it('gives the events after a seq, in order, with their data', async () => {
    const id = await finishedJob();
    const all = await db.store.listJobEvents(id, 0);
    expect(all.map((e) => [e.seq, e.type])).toEqual([
      [1, 'status'],
      [2, 'output'],
      [3, 'done'],
    ]);
    expect(all[0]).toEqual({
      jobId: id,
      seq: 1,
      type: 'status',
      data: { status: 'running', cancel_requested: false, attempts: 1 },
      at: 2_000,
    });
    expect(all[2]?.data).toMatchObject({ status: 'completed', error: null });
    expect(await db.store.listJobEvents(id, 1)).toEqual(all.slice(1));
    expect(await db.store.listJobEvents(id, 3)).toEqual([]);
    expect(await db.store.listJobEvents('job_missing', 0)).toEqual([]);
  });

  it('reads nothing after a seq past the 32-bit range (a client Last-Event-ID), as on every backend', async () => {
    const id = await finishedJob();
    // Last-Event-ID takes up to 12 digits: Postgres must not fail comparing an INTEGER seq with it.
    expect(await db.store.listJobEvents(id, 999_999_999_999)).toEqual([]);
    expect(await db.store.listJobEvents(id, 2_147_483_648)).toEqual([]);
  });

  it('a malformed row fails with the table, column and problem', async () => {
    const id = await finishedJob();
    await db.exec(`UPDATE job_events SET data = '[1, 2]' WHERE job_id = '${id}' AND seq = 2`);
    await expect(db.store.listJobEvents(id, 0)).rejects.toThrow(
      'malformed job_events row: data is an array, not a JSON object',
    );
    // The rows after it still read.
    expect((await db.store.listJobEvents(id, 2)).map((e) => e.seq)).toEqual([3]);
    await db.exec(`UPDATE job_events SET type = 'log' WHERE job_id = '${id}' AND seq = 3`);
    await expect(db.store.listJobEvents(id, 2)).rejects.toThrow('malformed job_events row: type is "log"');
  });

  it('jobEventSeqs gives each job’s last event seq, over slices of ids, and leaves out unknown ids', async () => {
    const done = await finishedJob();
    const account = await makeAccount(db.store);
    const queued: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await db.store.admitJob(jobInput(account.id, 'u2'), 1_000 + i);
      if (r.kind !== 'admitted') throw new Error(r.kind);
      queued.push(r.job.id);
    }
    const [first, second] = queued as [string, string, string];
    await db.store.appendJobEvent(second, 'progress', { value: 1, max: 2 }, 2_000);
    await db.store.appendJobEvent(second, 'progress', { value: 2, max: 2 }, 2_001);
    // 700 ids: three statements' worth, the known ones spread over them, one named twice.
    const ids = Array.from({ length: 696 }, (_, i) => `job_missing_${i}`);
    ids.splice(10, 0, first);
    ids.splice(350, 0, second);
    ids.splice(650, 0, done);
    ids.push(first);
    const seqs = await db.store.jobEventSeqs(ids);
    expect(seqs).toEqual(
      new Map([
        [first, 0],
        [second, 2],
        [done, 3],
      ]),
    );
    expect((await db.store.listJobEvents(second, 0)).at(-1)?.seq).toBe(2);
    expect(await db.store.jobEventSeqs([])).toEqual(new Map());
  });
});
