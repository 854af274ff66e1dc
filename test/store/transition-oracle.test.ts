/**
 * The transition table (src/jobs/state-machine.ts) as an oracle over the SQL: every store verb that can move a
 * job is driven from every status, on SQLite and Postgres. Each status change the store makes must be an
 * arrow of the table; a verb that changes no status changes nothing at all (row and event log), except the
 * few in-place updates listed below; and every arrow of the table is one the store actually makes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isLegalTransition, LEGAL_TRANSITIONS } from '../../src/jobs/state-machine.js';
import type { Job, JobStatus } from '../../src/jobs/types.js';
import type { Store } from '../../src/store/contract.js';
import { BACKENDS, type TestDb } from './backends.js';
import { jobInput, makeAccount } from './fixtures.js';

/** Claims happen at 10 s with a 1 s lease; verbs run at 50 s, after it expired (`EARLY`: before). */
const CLAIMED_AT = 10_000;
const NOW = 50_000;
const EARLY = 10_500;
const ERROR = { code: 'execution_error', message: 'boom' } as const;

interface Case {
  store: Store;
  accountId: string;
  jobId: string;
  pool: string;
}

/** A job brought to a starting point by the store's own verbs (the holder, if any, is worker w1). */
interface Start {
  name: string;
  unready?: boolean;
  to: (c: Case) => Promise<unknown>;
}

const claimed = (c: Case): Promise<unknown> => c.store.claimNext('w1', c.pool, 1_000, CLAIMED_AT);
const STARTS: readonly Start[] = [
  { name: 'queued', to: async () => {} },
  { name: 'queued, inputs not fetched', unready: true, to: async () => {} },
  { name: 'running', to: claimed },
  {
    name: 'running, cancel requested',
    to: async (c) => {
      await claimed(c);
      await c.store.requestCancel(c.accountId, 'u1', c.jobId, CLAIMED_AT + 1);
    },
  },
  {
    name: 'completed',
    to: async (c) => {
      await claimed(c);
      await c.store.completeJob(c.jobId, 'w1', [], CLAIMED_AT + 1);
    },
  },
  {
    name: 'failed',
    to: async (c) => {
      await claimed(c);
      await c.store.failJob(c.jobId, 'w1', ERROR, CLAIMED_AT + 1);
    },
  },
  { name: 'cancelled', to: (c) => c.store.requestCancel(c.accountId, 'u1', c.jobId, CLAIMED_AT) },
];

/** A store verb that may move a job; `inPlace`: the starts where it may change the row without a status change. */
interface Verb {
  name: string;
  run: (c: Case) => Promise<unknown>;
  inPlace?: readonly string[];
}

const VERBS: readonly Verb[] = [
  { name: 'claimNext', run: (c) => c.store.claimNext('w2', c.pool, 60_000, NOW) },
  {
    name: 'requestCancel',
    run: (c) => c.store.requestCancel(c.accountId, 'u1', c.jobId, NOW),
    inPlace: ['running'],
  },
  { name: 'failQueuedJob', run: (c) => c.store.failQueuedJob(c.jobId, ERROR, NOW) },
  {
    name: 'markInputsReady',
    run: (c) => c.store.markInputsReady(c.jobId, [{ name: 'face', filename: 'a.png', objectKey: 'k' }]),
    inPlace: ['queued', 'queued, inputs not fetched'],
  },
  { name: 'claimInputFetches', run: (c) => c.store.claimInputFetches('f', 1000, 60_000, NOW) },
  { name: 'completeJob', run: (c) => c.store.completeJob(c.jobId, 'w1', [], NOW) },
  { name: 'completeJob by another worker', run: (c) => c.store.completeJob(c.jobId, 'w2', [], NOW) },
  { name: 'failJob', run: (c) => c.store.failJob(c.jobId, 'w1', ERROR, NOW) },
  { name: 'failJob by another worker', run: (c) => c.store.failJob(c.jobId, 'w2', ERROR, NOW) },
  { name: 'finishCancel', run: (c) => c.store.finishCancel(c.jobId, 'w1', NOW) },
  { name: 'finishCancel by another worker', run: (c) => c.store.finishCancel(c.jobId, 'w2', NOW) },
  { name: 'releaseJob', run: (c) => c.store.releaseJob(c.jobId, 'w1', 3, 'r', NOW) },
  { name: 'releaseJob, attempts spent', run: (c) => c.store.releaseJob(c.jobId, 'w1', 1, 'r', NOW) },
  { name: 'releaseJob voluntary', run: (c) => c.store.releaseJob(c.jobId, 'w1', 1, 'r', NOW, true) },
  { name: 'releaseJob by another worker', run: (c) => c.store.releaseJob(c.jobId, 'w2', 3, 'r', NOW) },
  { name: 'expireLeases', run: (c) => c.store.expireLeases(3, NOW) },
  { name: 'expireLeases, attempts spent', run: (c) => c.store.expireLeases(1, NOW) },
  { name: 'expireLeases before expiry', run: (c) => c.store.expireLeases(3, EARLY) },
  {
    name: 'updateProgress',
    run: (c) => c.store.updateProgress(c.jobId, 'w1', { value: 1, max: 2, node: '1' }, NOW),
    inPlace: ['running', 'running, cancel requested'],
  },
  {
    name: 'renewLease',
    run: (c) => c.store.renewLease(c.jobId, 'w1', 60_000, EARLY),
    inPlace: ['running', 'running, cancel requested'],
  },
];

/** The job's row as the store reads it, and its event log. */
async function snapshot(c: Case): Promise<{ job: Job; events: number }> {
  const job = await c.store.getJob(c.jobId);
  if (job === null) throw new Error(`job ${c.jobId} vanished`);
  return { job, events: (await c.store.listJobEvents(c.jobId, 0)).length };
}

describe.each(BACKENDS)('the transition table is an oracle over the SQL on $name', (backend) => {
  let db: TestDb;
  let pools = 0;
  beforeAll(async () => {
    db = await backend.create();
  });
  afterAll(async () => {
    await db.cleanup();
  });

  /** A fresh job (own account, own pool, so claims and counters of other cases never meet it) at `start`. */
  async function prepare(start: Start): Promise<Case> {
    const account = await makeAccount(db.store);
    const pool = `oracle-${++pools}`;
    const unready = {
      inputsReady: false,
      inputs: [{ name: 'face', url: 'https://x.test/a.png', filename: 'a.png' }],
    };
    const input = jobInput(account.id, 'u1', { pool, ...(start.unready === true ? unready : {}) });
    const admitted = await db.store.admitJob(input, 1_000);
    if (admitted.kind !== 'admitted') throw new Error(`not admitted: ${admitted.kind}`);
    const c = { store: db.store, accountId: account.id, jobId: admitted.job.id, pool };
    await start.to(c);
    return c;
  }

  it('every status change is an arrow of the table, a refused verb changes nothing, and every arrow is made', async () => {
    const made = new Set<string>();
    for (const start of STARTS) {
      for (const verb of VERBS) {
        const c = await prepare(start);
        const before = await snapshot(c);
        await verb.run(c);
        const after = await snapshot(c);
        const from = before.job.status;
        const to = after.job.status;
        const where = `${verb.name} from ${start.name}`;
        if (from !== to) {
          expect(isLegalTransition(from, to), `${where}: ${from} → ${to} is not in the table`).toBe(true);
          made.add(`${from} → ${to}`);
        } else if (!(verb.inPlace ?? []).includes(start.name)) {
          expect(after, `${where} changed the job without changing its status`).toEqual(before);
        }
        // cancel_requested only goes from false to true, and such a job never ends completed.
        if (before.job.cancelRequested) {
          expect(after.job.cancelRequested, where).toBe(true);
          expect(to, where).not.toBe('completed');
        }
      }
    }
    const arrows = (Object.entries(LEGAL_TRANSITIONS) as Array<[JobStatus, readonly JobStatus[]]>).flatMap(
      ([from, tos]) => tos.map((to) => `${from} → ${to}`),
    );
    expect([...made].sort()).toEqual([...arrows].sort());
  }, 120_000);
});
