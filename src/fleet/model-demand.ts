/**
 * Per-model demand of each pool for the live model plan: which base model each job needs, its share of the
 * last day's arrivals (fed from the store's per-model, per-minute counts, each admission once), and the model files'
 * references by name (the plan works on names; a prefetch asks a worker for the file by kind and name).
 */
import { baseModel, type ModelRef } from '../models/model-refs.js';

export { baseModel };

/** Look-back of the popularity counts (as the simulator's). */
export const POPULARITY_WINDOW_MS = 86_400_000;

export class ModelDemand {
  private readonly arrivals = new Map<string, Array<{ at: number; model: string; count: number }>>();
  private readonly counts = new Map<string, Map<string, number>>();
  private readonly refs = new Map<string, ModelRef>();

  /** `count` jobs admitted to `pool` by `at` (the latest of them), each naming these files. */
  arrived(pool: string, at: number, models: readonly ModelRef[], count = 1): void {
    const base = this.remember(models);
    if (base === null || count <= 0) return;
    const list = this.arrivals.get(pool) ?? [];
    list.push({ at, model: base, count });
    this.arrivals.set(pool, list);
    const counts = this.counts.get(pool) ?? new Map<string, number>();
    counts.set(base, (counts.get(base) ?? 0) + count);
    this.counts.set(pool, counts);
  }

  /** The base model's name of a job's files (recording their references). */
  remember(models: readonly ModelRef[]): string | null {
    const base = baseModel(models);
    if (base !== null) this.refs.set(base.name, base);
    return base?.name ?? null;
  }

  /** Arrivals per base model over the last day. */
  popularity(pool: string, now: number): ReadonlyMap<string, number> {
    const list = this.arrivals.get(pool) ?? [];
    const counts = this.counts.get(pool) ?? new Map<string, number>();
    let drop = 0;
    while (drop < list.length && list[drop]!.at <= now - POPULARITY_WINDOW_MS) {
      const { model: m, count } = list[drop++]!;
      const n = (counts.get(m) ?? 0) - count;
      if (n <= 0) counts.delete(m);
      else counts.set(m, n);
    }
    if (drop > 0) this.arrivals.set(pool, list.slice(drop));
    return counts;
  }

  /** The reference (kind and name) of a model file seen in a job. */
  ref(name: string): ModelRef | null {
    return this.refs.get(name) ?? null;
  }
}
