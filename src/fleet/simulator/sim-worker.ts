/**
 * One simulated worker and what its models cost it: the VRAM and disk it keeps (LRU, bounded by the tiers),
 * the background fetch in flight, and the counters the report shows (loads, fetches, switches).
 */
import { ModelSet } from './model-set.js';
import type { PolicyWorkerState } from '../policy-types.js';
import type { ModelTiers } from './model-tiers.js';

export interface SimWorker {
  id: string;
  /** `warming`: running its warm-up or a preload, not claimable. */
  state: PolicyWorkerState;
  startedAt: number;
  idleSince: number;
  job: number;
  vram: ModelSet;
  disk: ModelSet;
  /** The file being fetched onto the disk in the background, and when it lands. */
  fetching: { model: string; doneAt: number } | null;
  /** Model the warm-up loads first (chosen by the policy at start). */
  firstModel: string | null;
  /** Model loads into its GPU so far (the ones after the first are switches). */
  loads: number;
}

export interface ModelCounters {
  modelLoads: number;
  modelFetches: number;
  switches: number;
}

/** A worker on a host whose disk (`disk`, possibly left by an earlier worker) it keeps using. */
export function newWorker(
  id: string,
  now: number,
  tiers: ModelTiers,
  firstModel: string | null,
  disk: ModelSet,
): SimWorker {
  return {
    id,
    state: 'starting',
    startedAt: now,
    idleSince: now,
    job: -1,
    vram: new ModelSet(Math.max(1, tiers.vramModels)),
    disk,
    fetching: null,
    firstModel,
    loads: 0,
  };
}

/** Expected seconds to make `model` ready on `w` (for choosing a worker; nothing changes). */
export function expectedLoadS(w: SimWorker, model: string | null, tiers: ModelTiers, now: number): number {
  if (model === null || w.vram.has(model)) return 0;
  if (w.disk.has(model)) return tiers.diskLoadS;
  if (w.fetching?.model === model) return Math.max(0, w.fetching.doneAt - now) / 1000 + tiers.diskLoadS;
  return tiers.fetchMedianS + tiers.diskLoadS;
}

/**
 * Makes `model` resident on `w` and returns the seconds that took: 0 from VRAM, a local load from disk, the
 * rest of an in-flight background fetch plus a load, or a fresh fetch (drawn) plus a load. Updates the LRU
 * sets and the counters.
 */
export function loadModel(
  w: SimWorker,
  model: string | null,
  tiers: ModelTiers,
  now: number,
  rand: () => number,
  counters: ModelCounters,
): number {
  if (model === null) return 0;
  // The host's cache counts every job's use of a file, resident or not, so a file in use is never evicted.
  const onDisk = w.disk.touch(model);
  if (w.vram.touch(model)) return 0;
  let seconds = tiers.diskLoadS;
  if (onDisk) {
    // A local load.
  } else if (w.fetching?.model === model) {
    seconds += Math.max(0, w.fetching.doneAt - now) / 1000;
    w.fetching = null;
    w.disk.add(model);
  } else {
    seconds += tiers.fetchS(rand);
    counters.modelFetches++;
    w.disk.add(model);
  }
  w.vram.add(model);
  counters.modelLoads++;
  if (w.loads > 0) counters.switches++;
  w.loads++;
  return seconds;
}
