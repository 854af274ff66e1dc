/**
 * What the live model plan sees of a pool each tick, from the store: the base models of its queued jobs,
 * each model's share of the last day's arrivals (read once per job), which registered files a worker's
 * model cache could fetch, and what each worker's agent last reported (resident, on disk, being prefetched).
 */
import type { ModelRef } from '../models/model-refs.js';
import type { Store } from '../store/contract.js';
import { PREFETCH_REFUSED_MS } from '../workers/job-channel.js';
import { ModelDemand, POPULARITY_WINDOW_MS } from './model-demand.js';

/** One worker's models as the plan sees them (names, least recently used first where the agent orders them). */
export interface ObservedWorkerModels {
  vram: string[];
  disk: string[];
  /** The file the fleet asked it to prefetch that has not arrived yet. */
  fetching: string | null;
  /** Files its agent gave up prefetching (not asked of it again while it reports them). */
  refused?: readonly string[];
  /** Models its agent gave up preloading for a while. */
  preloadRefused?: readonly string[];
}

export interface ObservedModels {
  /** Base models of queued jobs, with repeats. */
  queued: string[];
  popularity: ReadonlyMap<string, number>;
  /** Registered files (a worker with a model cache can fetch them). */
  fetchable: ReadonlySet<string>;
  /**
   * The kind and name of every model the demand names (whether a pool's warm-up can load it depends on its
   * kind); absent = none known, so nothing is preloaded.
   */
  refs?: ReadonlyMap<string, ModelRef>;
  workers: ReadonlyMap<string, ObservedWorkerModels>;
}

export interface ModelObserverDeps {
  store: Pick<Store, 'fleetModelDemand' | 'listWorkers' | 'listModelFiles' | 'listPrefetchRefused'>;
  demand: ModelDemand;
  /** The models a worker's agent gave up preloading (WorkerAgents.preloadRefused); none when absent. */
  preloadRefused?: (workerId: string) => readonly string[];
}

/** Queued demand entries one observation lists at most (before per-model rounding; see `observe`). */
export const MAX_QUEUED_REPEATS = 20_000;

export class ModelObserver {
  private readonly seen = new Map<string, number>();

  constructor(private readonly deps: ModelObserverDeps) {}

  /** `pools`: the pools whose jobs count (the pool itself: every job carries its concrete pool). */
  async observe(pool: string, pools: readonly string[], now: number): Promise<ObservedModels> {
    const last = this.seen.get(pool);
    const since = last === undefined ? now - POPULARITY_WINDOW_MS : last + 1;
    const found = await this.deps.store.fleetModelDemand(pools, since);
    let latest = last ?? since;
    for (const a of found.arrivals) {
      this.deps.demand.arrived(pool, a.at, [a.model], a.count);
      latest = Math.max(latest, a.at);
    }
    this.seen.set(pool, latest);
    const queued: string[] = [];
    // The plan reads queued demand as a list with repeats: a backlog beyond MAX_QUEUED_REPEATS is scaled down
    // (each model keeps its share, and at least one entry), so a tick's work does not grow with the backlog.
    const total = found.queued.reduce((n, q) => n + q.count, 0);
    const scale = total > MAX_QUEUED_REPEATS ? MAX_QUEUED_REPEATS / total : 1;
    for (const q of found.queued) {
      const base = this.deps.demand.remember([q.model]);
      const repeats = scale === 1 ? q.count : Math.max(1, Math.round(q.count * scale));
      if (base !== null) for (let i = 0; i < repeats; i++) queued.push(base);
    }
    const popularity = this.deps.demand.popularity(pool, now);
    const names = [...new Set([...popularity.keys(), ...queued])];
    const files = await this.deps.store.listModelFiles(names);
    const workers = new Map<string, ObservedWorkerModels>();
    const reporting = (await this.deps.store.listWorkers({ pool })).filter((w) => w.models?.known === true);
    const refused = await this.deps.store.listPrefetchRefused(
      reporting.map((w) => w.id),
      now - PREFETCH_REFUSED_MS,
    );
    for (const w of reporting) {
      const m = w.models;
      if (m === undefined) continue;
      workers.set(w.id, {
        vram: [...m.warm],
        disk: [...new Set([...m.available, ...m.onDisk])],
        fetching: m.prefetch[0]?.name ?? null,
        refused: refused.get(w.id) ?? [],
        preloadRefused: this.deps.preloadRefused?.(w.id) ?? [],
      });
    }
    const refs = new Map<string, ModelRef>();
    for (const name of names) {
      const ref = this.deps.demand.ref(name);
      if (ref !== null) refs.set(name, ref);
    }
    return { queued, popularity, fetchable: new Set(files.map((f) => f.name)), refs, workers };
  }
}
