import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { toPublicJob } from '../../src/jobs/public-job.js';
import { BACKENDS, type TestDb } from './backends.js';
import { jobInput, makeAccount } from './fixtures.js';

/** The GET read: only the public columns, the same public JSON, ownership still part of the lookup. */
describe.each(BACKENDS)('getJobViewFor on $name', (backend) => {
  let db: TestDb;
  beforeEach(async () => {
    db = await backend.create();
  });
  afterEach(async () => {
    await db.cleanup();
  });

  it('gives the public JSON of the full job, and nothing for another user or account', async () => {
    const account = await makeAccount(db.store);
    const other = await makeAccount(db.store);
    const r = await db.store.admitJob(
      jobInput(account.id, 'u1', { metadata: { order: 7 }, priority: 2 }),
      1_000,
    );
    if (r.kind !== 'admitted') throw new Error('not admitted');
    const id = r.job.id;
    await db.store.claimNext('w1', 'default', 60_000, 2_000);
    await db.store.updateProgress(id, 'w1', { value: 1, max: 2, node: '3' }, 2_100);
    const check = async (): Promise<void> => {
      const full = await db.store.getJobFor(account.id, 'u1', id);
      const view = await db.store.getJobViewFor(account.id, 'u1', id);
      if (full === null || view === null) throw new Error('missing');
      expect(toPublicJob(view)).toEqual(toPublicJob(full));
    };
    await check();
    const output = {
      index: 0,
      nodeId: '9',
      filename: 'a.png',
      contentType: 'image/png',
      size: 3,
      objectKey: `jobs/${id}/outputs/0-a.png`,
    };
    await db.store.completeJob(id, 'w1', [output], 3_000);
    await check();
    expect(toPublicJob((await db.store.getJobViewFor(account.id, 'u1', id))!).outputs).toHaveLength(1);
    expect(await db.store.getJobViewFor(account.id, 'u2', id)).toBeNull();
    expect(await db.store.getJobViewFor(other.id, 'u1', id)).toBeNull();
  });
});
