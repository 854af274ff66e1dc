/**
 * What a model load costs, by tier, as measured on an H200 running ComfyUI: a model resident in VRAM costs
 * nothing, a file on the worker's own disk costs a local load (`diskLoadS`, ~1.9 s for a 2.1 GB checkpoint),
 * anything else is fetched from the registry's source (a draw from the load samples, median 23 s / p90 42 s
 * on the public serving trace) and then loaded. A new worker boots (`bootS`) before any of that.
 */
import { parse } from 'csv-parse/sync';
import { z } from 'zod';
import { coldStartSeconds, quantileSampler } from './random.js';
import { TraceError } from './trace-csv.js';

export interface ModelTiers {
  /** Boot to ready, before any model; null = drawn from the measured cold-start curve (no model load after). */
  bootS: number | null;
  /** One fetch of a model file from its source, drawn with the simulation's seeded generator. */
  fetchS: (rand: () => number) => number;
  /** Median of `fetchS`, for planning. */
  fetchMedianS: number;
  diskLoadS: number;
  /** Model files a worker host's disk keeps (LRU), across the workers it runs; 0 = none, every load fetches. */
  diskCacheModels: number;
  /** Models a worker keeps resident in VRAM (LRU); at least 1. */
  vramModels: number;
}

/** The trace's base-model loads: median 23 s, p90 42 s (the ends are assumptions). */
export const TRACE_FETCH_S = quantileSampler([
  [0, 8],
  [0.5, 23],
  [0.9, 42],
  [0.99, 52],
  [1, 60],
]);

export const DEFAULT_TIERS: Readonly<ModelTiers> = Object.freeze({
  bootS: null,
  fetchS: TRACE_FETCH_S,
  fetchMedianS: 23,
  diskLoadS: 1.9,
  diskCacheModels: 0,
  vramModels: 1,
});

/** Seconds a new worker takes to boot, by the tiers. */
export function bootSeconds(tiers: ModelTiers, rand: () => number): number {
  return tiers.bootS ?? coldStartSeconds(rand);
}

/** Planning figure: boot plus one fetch and load (what a job on a brand-new worker waits for). */
export function expectedColdStartS(tiers: ModelTiers, withModels: boolean): number {
  const boot = tiers.bootS ?? 22.7;
  return withModels ? boot + tiers.fetchMedianS + tiers.diskLoadS : boot;
}

const Seconds = z.coerce.number().nonnegative().max(3600);

/** Reads a load-samples CSV (header `seconds`, one sample a line) into a sampler drawing uniformly from it. */
export function parseLoadSamples(text: string): { sample: (rand: () => number) => number; median: number } {
  const records = parse(text, { skip_empty_lines: true, comment: '#', bom: true, trim: true }) as unknown;
  const rows = z.array(z.array(z.string())).parse(records);
  const [header, ...body] = rows;
  const col = header?.findIndex((h) => h.toLowerCase() === 'seconds') ?? -1;
  if (col < 0) throw new TraceError('load samples: line 1 must be a header naming "seconds"');
  const values = body.map((row, i) => {
    const v = Seconds.safeParse(row[col]);
    if (!v.success) {
      throw new TraceError(`load samples line ${i + 2}: expected seconds ≥ 0, got "${row.join(',')}"`);
    }
    return v.data;
  });
  if (values.length === 0) throw new TraceError('load samples: no samples');
  const sorted = [...values].sort((a, b) => a - b);
  return {
    sample: (rand) => values[Math.min(values.length - 1, Math.floor(rand() * values.length))]!,
    median: sorted[Math.floor((sorted.length - 1) / 2)]!,
  };
}
