/**
 * The live side of the model plan: turns what the store knows of a pool's models (ModelObserver) into the
 * snapshot's ModelView and the workers' held models, the same shape the simulator feeds `decide()`, and
 * describes the model actions a decision took for the decision log.
 */
import type { PoolConfig } from './fleet-file.js';
import type { ObservedModels } from './model-observer.js';
import type { ModelActions, ModelView, PolicyWorker } from './policy-types.js';
import { warmupLoading } from './warmup-model.js';

/** Files a worker's disk keeps when the fleet file names no `disk_cache_models` but the pool has a cache. */
export const DEFAULT_LIVE_DISK_MODELS = 16;

/**
 * The pool's model limits: VRAM as the fleet file says (else 1); disk only where the fleet keeps a cache.
 * A model can be preloaded only where the pool's warm-up workflow has a loader of its kind (a preload is that
 * warm-up made to load it), so a pool without a warm-up gets no preloads.
 */
export function liveModelView(pool: PoolConfig, seen: ObservedModels): ModelView {
  const cache = pool.process?.modelsDir != null;
  const warmup = pool.warmup?.kind === 'inline' ? pool.warmup.workflow : null;
  const preloadable = new Set<string>();
  if (warmup !== null) {
    for (const [name, ref] of seen.refs ?? []) if (warmupLoading(warmup, ref) !== null) preloadable.add(name);
  }
  return {
    vramModels: pool.models?.vramModels ?? 1,
    diskCacheModels: cache ? (pool.models?.diskCacheModels ?? DEFAULT_LIVE_DISK_MODELS) : 0,
    queued: seen.queued,
    popularity: seen.popularity,
    fetchable: seen.fetchable,
    preloadable,
  };
}

/** Adds each worker's reported models (none yet for one starting or not reporting). */
export function withModels(workers: readonly PolicyWorker[], seen: ObservedModels): PolicyWorker[] {
  return workers.map((w) => {
    const m = seen.workers.get(w.id);
    return {
      ...w,
      vram: m?.vram ?? [],
      disk: m?.disk ?? [],
      fetching: m?.fetching ?? null,
      prefetchRefused: m?.refused ?? [],
      preloadRefused: m?.preloadRefused ?? [],
    };
  });
}

/** True when the actions change anything (worth a line in the decision log). */
export function hasModelActions(a: ModelActions | undefined): boolean {
  return (
    a !== undefined && (a.prefetch.length > 0 || a.preload.length > 0 || a.startWith.some((m) => m !== null))
  );
}

/** `prefetch b.safetensors → wrk_1; preload a.safetensors → wrk_2; start with b.safetensors` (empty: none). */
export function describeModelActions(a: ModelActions): string {
  const parts: string[] = [];
  if (a.prefetch.length > 0) {
    parts.push(`prefetch ${a.prefetch.map((p) => `${p.model} → ${p.worker}`).join(', ')}`);
  }
  if (a.preload.length > 0) {
    parts.push(`preload ${a.preload.map((p) => `${p.model} → ${p.worker}`).join(', ')}`);
  }
  const first = a.startWith.filter((m): m is string => m !== null);
  if (first.length > 0) parts.push(`new workers load first ${first.join(', ')}`);
  return parts.join('; ');
}
