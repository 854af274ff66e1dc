/**
 * Submission-time placement check: a job whose model file no worker of its pool can load, and which is not in
 * the registry for a model cache to fetch, would wait forever; it is refused instead. Decided from what the
 * pool's workers last reported (stopped ones included, so a pool scaled to zero still knows its files).
 */
import type { Store } from '../store/contract.js';
import type { ModelRef } from './model-refs.js';

/**
 * The first of `refs` that no worker of `pool` (null: any pool) has and the registry lacks, or null. Null too
 * when it cannot be known: no worker has reported models yet, or a running worker has not reported.
 */
export async function firstUnavailableModel(
  store: Store,
  pool: string | null,
  refs: readonly ModelRef[],
): Promise<ModelRef | null> {
  if (refs.length === 0) return null;
  const workers = await store.listWorkers({ ...(pool === null ? {} : { pool }), includeStopped: true });
  const reported = workers.filter((w) => w.models?.known === true);
  const silent = workers.some((w) => w.status !== 'stopped' && w.models?.known !== true);
  if (reported.length === 0 || silent) return null;
  const have = new Set(
    reported.flatMap((w) => [...(w.models?.available ?? []), ...(w.models?.onDisk ?? [])]),
  );
  const missing = refs.filter((r) => !have.has(r.name));
  if (missing.length === 0) return null;
  const registered = new Set((await store.listModelFiles(missing.map((r) => r.name))).map((f) => f.name));
  return missing.find((r) => !registered.has(r.name)) ?? null;
}
