/**
 * The model tiers of issue 11's synthetic week, shared by the fleet benches: boot 13 s, fetch times drawn from
 * bench/data/model-load-samples.csv (median 23 s, p90 42 s), disk load 1.9 s, 32 files on a worker's disk and
 * `vramModels` (default 16) resident.
 */
import { readFileSync } from 'node:fs';
import { parseLoadSamples } from '../src/fleet/simulator/model-tiers.js';

export const LOAD_SAMPLES = 'bench/data/model-load-samples.csv';

export function weekTiers(vramModels = 16) {
  const samples = parseLoadSamples(readFileSync(LOAD_SAMPLES, 'utf8'));
  return {
    bootS: 13,
    fetchS: samples.sample,
    fetchMedianS: samples.median,
    diskLoadS: 1.9,
    diskCacheModels: 32,
    vramModels,
  };
}
