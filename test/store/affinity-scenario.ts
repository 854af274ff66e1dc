/** The affinity-bound scenario shared by affinity-bound.test.ts and the server-function parity test. */
import type { Store } from '../../src/store/contract.js';
import { jobInput, makeAccount, registerWorker } from './fixtures.js';

export const BOUND = 10_000;
const POPULAR = ['M1', 'M2', 'M3'];

/** A queued job: its user and model file. */
export type Queued = readonly [user: string, model: string];

/** Admits `queue` in order, then claims one job a second (workers w1..w3 in turn) until none is left;
 *  returns each job's claim time in queue order. */
export async function claimTimes(
  store: Store,
  queue: readonly Queued[],
  affinityMs: number,
): Promise<number[]> {
  const account = await makeAccount(store, { max_active_jobs: 500, max_active_jobs_per_user: 50 });
  for (const [i, model] of POPULAR.entries()) {
    const available = [...POPULAR, 'Z'];
    await registerWorker(store, `w${i + 1}`, {
      available,
      warm: [model],
      onDisk: [],
      canFetch: false,
      switches: 0,
    });
  }
  const ids: string[] = [];
  for (const [i, [user, model]] of queue.entries()) {
    const r = await store.admitJob(
      jobInput(account.id, user, { id: `q${i}`, models: [{ kind: 'checkpoint', name: model }] }),
      1_000 + i,
    );
    if (r.kind !== 'admitted') throw new Error(r.kind);
    ids.push(r.job.id);
  }
  const at = new Map<string, number>();
  for (let k = 0; k < queue.length; k++) {
    const now = 2_000 + k * 1_000;
    const job = await store.claimNext(`w${(k % 3) + 1}`, 'default', 600_000, now, {
      affinityMaxDelayMs: affinityMs,
    });
    if (job === null) throw new Error(`claim ${k} found nothing`);
    at.set(job.id, now);
  }
  return ids.map((id) => at.get(id) ?? Infinity);
}

/** 30 users with one popular-model job each, after `head`. */
export const withCrowd = (head: Queued[]): Queued[] => [
  ...head,
  ...Array.from({ length: 30 }, (_, i): Queued => [`u${i}`, POPULAR[i % 3] ?? 'M1']),
];
