/**
 * A clairvoyant REFERENCE, not a policy anyone can run: it is built from the whole workload in advance (every
 * arrival, duration and model), so it shows what knowing the future would buy, as a bound for the real
 * policies. It plans zero-wait service at the least GPU time: jobs are chained onto workers in arrival order,
 * each job following the worker that freed most recently before it when that idle gap is shorter than the
 * cost of a new worker (boot + a local load), else opening a new worker started exactly that long before the
 * job (with the job's model as its first model). With cost min(gap, lead) per job this greedy chaining is the
 * least total idle + start time for zero waits (an exchange argument: the cost is concave in the gap, so giving the smaller gap to the earlier job never costs more). The
 * plan assumes every job starts on arrival and ignores model switches on a chained worker (16 resident
 * models make most free); the simulator then runs it with the real tiers, claim order and ticks, so its
 * report shows what those assumptions cost.
 */
import type { Policy } from '../policy-types.js';
import { decisionFor } from '../policy-common.js';
import type { ModelTiers } from './model-tiers.js';
import type { Scenario, SimPool } from './sim-types.js';
import type { SimJob } from './workload.js';
import { EventHeap } from './heap.js';

export interface ClairvoyantChain {
  /** When its worker starts (its first job's arrival less the lead). */
  startAt: number;
  /** When its last job ends, if every job starts on arrival. */
  endAt: number;
  firstModel: string | null;
  /** Its first job's arrival is `startAt + leadMs`. */
  leadMs: number;
  jobs: number;
}

/**
 * Chains the jobs (sorted by arrival) onto workers: a job follows the worker freed most recently before it
 * when it has been idle less than `leadS` (what a new worker costs before its first job), else opens a chain.
 */
export function planChains(jobs: readonly SimJob[], leadS: number): ClairvoyantChain[] {
  const leadMs = leadS * 1000;
  const chains: ClairvoyantChain[] = [];
  /** Ends not yet reached, ascending by time, with their chain. */
  const pending: Array<{ end: number; chain: number }> = [];
  // Free workers, latest end first (`at` is the end negated) and, among equal ends, the last freed first.
  const freeAt = new EventHeap<{ at: number; seq: number; chain: number }>();
  let freed = 0;
  let head = 0;
  for (const job of jobs) {
    // Ends at or before this arrival become free workers (pending is kept sorted by end).
    while (head < pending.length && pending[head]!.end <= job.at) {
      const p = pending[head++]!;
      freeAt.push({ at: -p.end, seq: -freed++, chain: p.chain });
    }
    const latest = freeAt.peek();
    let chain: number;
    if (latest !== undefined && job.at + latest.at < leadMs) {
      freeAt.pop();
      chain = latest.chain;
      chains[chain]!.jobs++;
    } else {
      // Every free worker has been idle at least a lead: it is cheaper to have stopped them all.
      freeAt.clear();
      chain = chains.length;
      chains.push({ startAt: job.at - leadMs, endAt: job.at, firstModel: job.model, leadMs, jobs: 1 });
    }
    const end = job.at + job.durationS * 1000;
    chains[chain]!.endAt = Math.max(chains[chain]!.endAt, end);
    insertSorted(pending, { end, chain }, head);
  }
  return chains;
}

function insertSorted(
  list: Array<{ end: number; chain: number }>,
  item: { end: number; chain: number },
  from: number,
) {
  let lo = from;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid]!.end <= item.end) lo = mid + 1;
    else hi = mid;
  }
  list.splice(lo, 0, item);
}

function upperBound(sorted: readonly number[], v: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The policy that runs a chain plan: as many workers as chains alive now (a chain is started at the tick
 * before its start time), never fewer than running + queued jobs, each new worker warming its chain's first
 * model; idle workers beyond that stop at once.
 */
export function clairvoyantPolicy(chains: readonly ClairvoyantChain[], tickMs: number): Policy {
  const byStart = [...chains].sort((a, b) => a.startAt - b.startAt);
  const starts = byStart.map((c) => c.startAt - tickMs);
  const ends = chains.map((c) => c.endAt).sort((a, b) => a - b);
  const firstJobs = byStart.map((c) => c.startAt + c.leadMs).sort((a, b) => a - b);
  return (snapshot, now) => {
    const started = upperBound(starts, now);
    const planned = started - upperBound(ends, now);
    // Workers started for chains whose first job has not come yet are kept whatever the others do (a job
    // that started late runs past its planned end and must not cost the next chain its worker).
    const waitingForFirst = started - upperBound(firstJobs, now);
    const target = Math.max(planned, snapshot.running + snapshot.queued + waitingForFirst);
    const base = decisionFor(snapshot, now, target, `clairvoyant reference: ${planned} chains alive`);
    // The newest chains started are the ones new workers are for.
    const startWith: Array<string | null> = [];
    for (let i = started - 1; i >= 0 && startWith.length < base.start; i--) {
      if (byStart[i]!.endAt > now) startWith.push(byStart[i]!.firstModel);
    }
    return { ...base, models: { startWith, preload: [], prefetch: [] } };
  };
}

/** The clairvoyant reference scenario on `jobs`, paying `tiers` like every other scenario. */
export function clairvoyantScenario(
  jobs: readonly SimJob[],
  tiers: ModelTiers,
  pool: SimPool,
  tickMs = 5_000,
): Scenario {
  const leadS = (tiers.bootS ?? 22.7) + (jobs.some((j) => j.model !== null) ? tiers.diskLoadS : 0);
  const chains = planChains(jobs, leadS);
  return {
    name: 'clairvoyant reference',
    description:
      `NOT A RUNNABLE POLICY: knows every arrival, duration and model in advance; ${chains.length} workers ` +
      `started ${leadS.toFixed(1)} s before their first job, chained while idle gaps < ${leadS.toFixed(1)} s`,
    policy: clairvoyantPolicy(chains, tickMs),
    pool: { ...pool, name: pool.name, min: 0, buffer: 0, scaleDownMs: 0, max: 1_000, schedules: [] },
    affinityMaxDelayMs: null,
    alwaysTick: true,
  };
}
