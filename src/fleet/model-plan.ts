/**
 * The model half of the autoscaler: once `decide()` has sized the pool, this plans which models its workers
 * hold. Loading a model costs by tier (resident in VRAM: nothing; on the worker's disk: a local load of ~2 s;
 * elsewhere: a fetch of ~23 s first), so the plan keeps the models the forecast wants close to the GPUs:
 *   - the forecast of which model comes next is its share of the arrivals over the last day, plus the
 *     models of queued jobs;
 *   - idle workers fetch the most wanted files they lack onto their disk in the background (prefetch), up
 *     to the disk's budget, evicting only a file much less wanted than the one fetched (never a file the
 *     worker's agent gave up fetching: its source failed);
 *   - idle workers load wanted files from their disk into VRAM (preload), spreading the models across the
 *     idle workers: a model's value falls with the number of idle workers already holding it;
 *   - a new worker's warm-up loads the model of a queued job no idle worker holds, else the most wanted
 *     model held by the fewest workers; a model already on a free host's disk (where the new worker can
 *     start: a boot and a disk load, no fetch) is preferred among equals, and over one wanted less than
 *     `REPLACE_RATIO` times more;
 *   - when the pool shrinks, the idle workers whose models are least wanted (or held elsewhere too) stop.
 * Pure and deterministic, like `decide()`.
 */
import { returnWithin, TRACE_RETURN_CURVE } from './demand-forecast.js';
import type { Decision, ModelActions, ModelView, PolicyWorker, PoolSnapshot } from './policy-types.js';

/** A file or resident model is replaced only by one at least this many times more wanted (no churn). */
const REPLACE_RATIO = 2;

/** The model plan's knobs (tuned with `arrakis simulate`, docs/fleet.md). */
export interface ModelPlanTuning {
  /**
   * Session copies on: fetch onto an idle worker's disk the model returning users are expected to want when
   * no idle worker holds it. Cuts peak waits (a returning job no longer waits for a busy holder, then
   * fetches) at the price of more fetches.
   */
  sessionCopies: boolean;
  /** How far ahead returns count (seconds), and how many expected returns make a copy worth its fetch. */
  sessionLookaheadS: number;
  sessionMinExpected: number;
  /** Disk copies of a model the pool aims for, per live worker and unit share of the jobs (see prefetches). */
  prefetchCover: number;
}

export const DEFAULT_MODEL_PLAN_TUNING: Readonly<ModelPlanTuning> = Object.freeze({
  sessionCopies: false,
  sessionLookaheadS: 120,
  sessionMinExpected: 0.7,
  prefetchCover: 8,
});

/** Share of recent arrivals per model, with queued jobs counted as certain demand. */
function demandShares(view: ModelView): Map<string, number> {
  const counts = new Map(view.popularity);
  for (const m of view.queued) counts.set(m, (counts.get(m) ?? 0) + 1);
  let total = 0;
  for (const n of counts.values()) total += n;
  const shares = new Map<string, number>();
  if (total > 0) for (const [m, n] of counts) shares.set(m, n / total);
  return shares;
}

/** Models in descending share (ties by name, so the plan is deterministic). */
function ranked(shares: ReadonlyMap<string, number>): string[] {
  return [...shares.keys()].sort((a, b) => shares.get(b)! - shares.get(a)! || (a < b ? -1 : 1));
}

function countHolders(workers: readonly PolicyWorker[], pick: (w: PolicyWorker) => readonly string[]) {
  const holders = new Map<string, number>();
  for (const w of workers) for (const m of pick(w)) holders.set(m, (holders.get(m) ?? 0) + 1);
  return holders;
}

/** What a worker's resident models are worth to the pool: each model's share split among its holders. */
function workerValue(w: PolicyWorker, shares: ReadonlyMap<string, number>, holders: Map<string, number>) {
  let v = 0;
  for (const m of w.vram ?? []) v += (shares.get(m) ?? 0) / Math.max(1, holders.get(m) ?? 1);
  return v;
}

/** Re-picks which idle workers stop (same count as the base decision): the least valuable first. */
function pickStops(s: PoolSnapshot, base: Decision, shares: ReadonlyMap<string, number>): string[] {
  if (base.stop.length === 0) return [];
  const holders = countHolders(s.workers, (w) => w.vram ?? []);
  const eligible = s.workers.filter(
    (w) => w.state === 'idle' && w.idleSince !== null && base.at - w.idleSince >= s.limits.scaleDownMs,
  );
  return eligible
    .map((w) => ({ w, v: workerValue(w, shares, holders) }))
    .sort((a, b) => a.v - b.v || (a.w.idleSince ?? 0) - (b.w.idleSince ?? 0))
    .slice(0, base.stop.length)
    .map((x) => x.w.id);
}

/**
 * The free hosts' disks a plan can still start workers on: `take(m)` reserves the one holding `m` (the
 * simulator and the process provider place a worker there), so two starts do not count on the same disk.
 */
function freeHostDisks(view: ModelView) {
  const disks = (view.freeHosts ?? []).map((d) => new Set(d));
  return {
    holds: (m: string) => disks.some((d) => d.has(m)),
    take(m: string) {
      const i = disks.findIndex((d) => d.has(m));
      if (i >= 0) disks.splice(i, 1);
    },
  };
}

/** The first model of each worker started now. */
function startModels(s: PoolSnapshot, count: number, shares: ReadonlyMap<string, number>) {
  const view = s.models!;
  const idleHeld = new Set(s.workers.filter((w) => w.state === 'idle').flatMap((w) => w.vram ?? []));
  const holders = countHolders(s.workers, (w) => w.vram ?? []);
  const waiting = new Map<string, number>();
  for (const m of view.queued) if (!idleHeld.has(m)) waiting.set(m, (waiting.get(m) ?? 0) + 1);
  const free = freeHostDisks(view);
  // A model no free host holds costs a fetch on top of the boot: among the forecast's picks it must be
  // wanted REPLACE_RATIO times more than one that sits on a free disk.
  const fetchDiscount = (m: string) => (free.holds(m) ? 1 : 1 / REPLACE_RATIO);
  const out: Array<string | null> = [];
  for (let i = 0; i < count; i++) {
    let best: string | null = null;
    let bestScore = 0;
    // A queued job that no idle worker can serve warm is what this start is for (the most queued model,
    // one on a free host's disk among equals); then the forecast.
    for (const [m, n] of waiting) {
      if (n > bestScore || (n === bestScore && best !== null && free.holds(m) && !free.holds(best)))
        [best, bestScore] = [m, n];
    }
    if (best !== null) {
      waiting.set(best, bestScore - 1);
      if (bestScore - 1 <= 0) waiting.delete(best);
    } else {
      for (const m of ranked(shares)) {
        const score = (shares.get(m)! / (1 + (holders.get(m) ?? 0))) * fetchDiscount(m);
        if (score > bestScore) [best, bestScore] = [m, score];
      }
    }
    if (best !== null) {
      holders.set(best, (holders.get(best) ?? 0) + 1);
      free.take(best);
    }
    out.push(best);
  }
  return out;
}

/**
 * Background fetches onto idle workers' disks, one file per worker at a time. Only models the pool wants
 * resident (the top `vramModels`) and only until enough live workers hold each on disk: a share of the pool
 * proportional to the model's share of the jobs (a prefetch is a fetch too; the rest come on demand).
 */
function prefetches(
  s: PoolSnapshot,
  idle: readonly PolicyWorker[],
  order: readonly string[],
  shares: ReadonlyMap<string, number>,
  cover: number,
) {
  const view = s.models!;
  const out: ModelActions['prefetch'] = [];
  if (view.diskCacheModels <= 0) return out;
  const holders = countHolders(s.workers, (w) => [...(w.disk ?? []), ...(w.fetching ? [w.fetching] : [])]);
  const wanted = order
    .filter((m) => view.fetchable?.has(m) ?? true)
    .slice(0, Math.min(view.vramModels, view.diskCacheModels));
  const live = s.workers.length;
  for (const w of idle) {
    if ((w.fetching ?? null) !== null) continue;
    const disk = w.disk ?? [];
    const refused = w.prefetchRefused ?? [];
    const want = wanted.find(
      (m) =>
        !disk.includes(m) &&
        !refused.includes(m) &&
        (holders.get(m) ?? 0) < Math.ceil((shares.get(m) ?? 0) * live * cover),
    );
    if (want === undefined) continue;
    const lru = disk[0];
    const room = disk.length < view.diskCacheModels;
    if (room || (shares.get(lru ?? '') ?? 0) * REPLACE_RATIO < (shares.get(want) ?? 0)) {
      out.push({ worker: w.id, model: want });
      holders.set(want, (holders.get(want) ?? 0) + 1);
    }
  }
  return out;
}

/**
 * Session copies: a user between jobs tends to come back with the same model, and the worker that ran their
 * last job may be busy with someone else's by then (the returning job would wait for it, then fetch). So a
 * model that returning users are expected to want within `sessionLookaheadS` (at least `sessionMinExpected`
 * expected returns), and that no idle worker holds, is fetched onto an idle worker's disk now (most expected
 * first, one per worker).
 */
function sessionCopies(
  s: PoolSnapshot,
  now: number,
  idle: readonly PolicyWorker[],
  taken: ReadonlySet<string>,
  t: ModelPlanTuning,
) {
  const view = s.models!;
  const lastEnd = new Map<string, { at: number; model: string }>();
  for (const f of s.recentFinishes) {
    if (f.model == null || s.activeUsers.has(f.userId) || f.at > now) continue;
    const prev = lastEnd.get(f.userId);
    if (prev === undefined || prev.at <= f.at) lastEnd.set(f.userId, { at: f.at, model: f.model });
  }
  const expected = new Map<string, number>();
  for (const { at, model } of lastEnd.values()) {
    const p = returnWithin(TRACE_RETURN_CURVE, (now - at) / 1000, t.sessionLookaheadS);
    expected.set(model, (expected.get(model) ?? 0) + p);
  }
  const idleHeld = new Set(
    idle.flatMap((w) => [...(w.vram ?? []), ...(w.disk ?? []), ...(w.fetching ? [w.fetching] : [])]),
  );
  const wanted = [...expected]
    .filter(([m, p]) => p >= t.sessionMinExpected && !idleHeld.has(m) && (view.fetchable?.has(m) ?? true))
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .map(([m]) => m);
  const out: ModelActions['prefetch'] = [];
  for (const w of idle) {
    if (wanted.length === 0) break;
    if (taken.has(w.id) || (w.fetching ?? null) !== null) continue;
    const i = wanted.findIndex((m) => !(w.prefetchRefused ?? []).includes(m));
    if (i >= 0) out.push({ worker: w.id, model: wanted.splice(i, 1)[0]! });
  }
  return out;
}

/** Loads from disk into VRAM, spreading models over the idle workers. */
function preloads(idle: readonly PolicyWorker[], view: ModelView, shares: ReadonlyMap<string, number>) {
  const out: ModelActions['preload'] = [];
  const holders = countHolders(idle, (w) => w.vram ?? []);
  for (const w of idle) {
    const vram = w.vram ?? [];
    let best: string | null = null;
    let bestValue = 0;
    for (const m of w.disk ?? []) {
      if (vram.includes(m) || !(view.preloadable?.has(m) ?? true)) continue;
      if ((w.preloadRefused ?? []).includes(m)) continue;
      const value = (shares.get(m) ?? 0) / (1 + (holders.get(m) ?? 0));
      if (value > bestValue) [best, bestValue] = [m, value];
    }
    if (best === null) continue;
    const lru = vram[0];
    const lruValue = lru === undefined ? 0 : (shares.get(lru) ?? 0) / Math.max(1, holders.get(lru) ?? 1);
    if (vram.length < view.vramModels || lruValue * REPLACE_RATIO < bestValue) {
      out.push({ worker: w.id, model: best });
      holders.set(best, (holders.get(best) ?? 0) + 1);
      if (vram.length >= view.vramModels && lru !== undefined) holders.set(lru, (holders.get(lru) ?? 1) - 1);
    }
  }
  return out;
}

/** Adds the model plan to a base decision (which already holds the worker count). */
export function planModels(
  s: PoolSnapshot,
  base: Decision,
  tuning: ModelPlanTuning = DEFAULT_MODEL_PLAN_TUNING,
): Decision {
  const view = s.models;
  if (view === undefined) return base;
  const shares = demandShares(view);
  const order = ranked(shares);
  const stop = pickStops(s, base, shares);
  const stopping = new Set(stop);
  const idle = s.workers.filter((w) => w.state === 'idle' && !stopping.has(w.id));
  const prefetch = prefetches(s, idle, order, shares, s.limits.prefetchCover ?? tuning.prefetchCover);
  // Copies buy peak latency with fetches; outside the latency hours no wait target asks for them.
  const copies = (s.limits.sessionCopies ?? tuning.sessionCopies) && s.limits.offHours !== true;
  if (copies && view.diskCacheModels > 0) {
    const taken = new Set(prefetch.map((p) => p.worker));
    prefetch.push(...sessionCopies(s, base.at, idle, taken, tuning));
  }
  const models: ModelActions = {
    startWith: startModels(s, base.start, shares),
    prefetch,
    preload: preloads(idle, view, shares),
  };
  return { ...base, stop, models };
}
