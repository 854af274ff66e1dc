/**
 * An online reference for the peak tail: what keeping spare workers costs when the policy knows only how busy
 * each 5-minute slot of the weekday is (the weekly profile), not when the next job comes. An idealised fleet,
 * cheaper than any real one: it keeps `k(slot)` idle-or-booting spares, starts a replacement the instant a spare
 * is taken (ready one `leadS` later: boot + a local load), gives a waiting job a worker at once, stops any
 * surplus idle worker at once, and every worker holds every model (no loads, no fetches). A job waits only
 * when no worker is free on its arrival, until the first one frees or boots. `optimiseSpares` then picks the
 * cheapest spare count per slot that keeps the peak jobs' p95 wait within a target. Pure and deterministic;
 * `bench/fleet-cost-bound.ts` runs it on the synthetic week (docs/fleet.md "What is possible").
 */
import { scheduleMatches, type Schedule } from '../schedule.js';
import { EventHeap, type Timed } from './heap.js';
import { percentile } from './report.js';
import type { SimJob } from './workload.js';

const DAY_MS = 86_400_000;
export const SLOT_MS = 300_000;
const SLOTS_PER_DAY = DAY_MS / SLOT_MS;

/** The spare count wanted at `at` (epoch ms); called at every event and every slot boundary. */
export type SpareSchedule = (at: number) => number;

export interface SpareRun {
  waitS: Float64Array;
  /** Billed worker-seconds (start to stop) in all, and per slot of the run (from `startAt`). */
  billedS: number;
  billedBySlot: Float64Array;
  starts: number;
}

/** The first time in a heap of finishes or boots (equal times are interchangeable: every `seq` is 0). */
const first = (h: EventHeap<Timed>) => h.peek()?.at ?? Number.POSITIVE_INFINITY;

/** Runs the idealised spare-keeping fleet over `jobs` (sorted by arrival) from `startAt` to `endAt`. */
export function runSpares(
  jobs: readonly SimJob[],
  spares: SpareSchedule,
  leadS: number,
  startAt: number,
  endAt: number,
): SpareRun {
  const leadMs = leadS * 1000;
  const waitS = new Float64Array(jobs.length);
  const slots = Math.ceil((endAt - startAt) / SLOT_MS) + 2 * SLOTS_PER_DAY;
  const billedBySlot = new Float64Array(slots);
  const finishes = new EventHeap<Timed>();
  const boots = new EventHeap<Timed>();
  const queue: number[] = [];
  let queueHead = 0;
  let idle = 0;
  let starts = 0;
  let now = startAt;
  let next = 0;
  let nextSlot = startAt + SLOT_MS;

  const live = () => idle + boots.size + finishes.size;
  const advance = (to: number) => {
    // Bill every live worker up to `to` (events never cross a slot boundary: those are events too).
    const slot = Math.min(slots - 1, Math.max(0, Math.floor((now - startAt) / SLOT_MS)));
    billedBySlot[slot] = billedBySlot[slot]! + (live() * (to - now)) / 1000;
    now = to;
  };
  const serve = () => {
    while (queueHead < queue.length && idle > 0) {
      const j = queue[queueHead++]!;
      idle--;
      waitS[j] = (now - jobs[j]!.at) / 1000;
      finishes.push({ at: now + jobs[j]!.durationS * 1000, seq: 0 });
    }
  };
  const adjust = () => {
    const waiting = queue.length - queueHead;
    const supply = idle + boots.size - waiting;
    const want = Math.max(0, spares(now));
    for (let i = supply; i < want; i++) {
      boots.push({ at: now + leadMs, seq: 0 });
      starts++;
    }
    if (supply > want) idle -= Math.min(idle, supply - want);
  };

  adjust();
  for (;;) {
    const tArrival = next < jobs.length ? jobs[next]!.at : Number.POSITIVE_INFINITY;
    const t = Math.min(first(finishes), first(boots), tArrival, nextSlot);
    if (t === Number.POSITIVE_INFINITY || (t >= endAt && next >= jobs.length && live() === 0)) break;
    if (t > endAt + 2 * DAY_MS) break;
    advance(t);
    // Same instant: finishes and boots free workers before arrivals claim them.
    if (first(finishes) === t) {
      finishes.pop();
      idle++;
    } else if (first(boots) === t) {
      boots.pop();
      idle++;
    } else if (tArrival === t) {
      queue.push(next++);
    } else {
      nextSlot += SLOT_MS;
      if (t >= endAt && next >= jobs.length && finishes.size === 0 && queue.length === queueHead) {
        idle = 0;
        if (boots.size === 0) break;
      }
    }
    serve();
    adjust();
  }
  let billedS = 0;
  for (const s of billedBySlot) billedS += s;
  return { waitS, billedS, billedBySlot, starts };
}

/** Slot of the weekday (0 … 287) of an instant. */
export function slotOfDay(at: number): number {
  return Math.floor((at % DAY_MS) / SLOT_MS);
}

/** The spare counts of one weekday, applied inside `window` only (0 elsewhere). */
export function weekdaySpares(bySlot: readonly number[], window: Schedule): SpareSchedule {
  return (at) => (scheduleMatches(window, at) ? (bySlot[slotOfDay(at)] ?? 0) : 0);
}

export interface SpareOptimum {
  /** Spares per slot of the day (0 outside the window). */
  bySlot: number[];
  run: SpareRun;
  peakP95WaitS: number;
  costRatio: number;
  /** GPU-seconds billed inside the window's slots, and the GPU time of the jobs submitted there. */
  windowBilledS: number;
  windowFloorS: number;
}

/**
 * The cheapest spare count per slot of the weekday (0 … `maxSpares`) whose peak p95 wait is within
 * `targetS` (jobs marked in `alwaysMiss` count as waiting longer whatever the spares): each slot's misses (peak jobs waiting longer than the target) and cost are measured at every
 * uniform count, a Lagrangian search picks the counts that allow 5% misses at the least cost, and the pick is
 * run again to report what it really gives (the slots interact a little through workers that outlive them).
 */
export function optimiseSpares(
  jobs: readonly SimJob[],
  window: Schedule,
  leadS: number,
  startAt: number,
  endAt: number,
  targetS = 10,
  maxSpares = 6,
  alwaysMiss: readonly boolean[] = [],
): SpareOptimum {
  const inWindow = jobs.map((j) => scheduleMatches(window, j.at));
  const forced = jobs.reduce((n, _, i) => n + (inWindow[i] && alwaysMiss[i] === true ? 1 : 0), 0);
  const peakJobs = inWindow.filter(Boolean).length;
  const miss: number[][] = [];
  const cost: number[][] = [];
  for (let k = 0; k <= maxSpares; k++) {
    const run = runSpares(
      jobs,
      weekdaySpares(new Array<number>(SLOTS_PER_DAY).fill(k), window),
      leadS,
      startAt,
      endAt,
    );
    const m = new Array<number>(SLOTS_PER_DAY).fill(0);
    const c = new Array<number>(SLOTS_PER_DAY).fill(0);
    jobs.forEach((j, i) => {
      if (inWindow[i] && alwaysMiss[i] !== true && run.waitS[i]! > targetS) m[slotOfDay(j.at)]!++;
    });
    run.billedBySlot.forEach((s, i) => {
      const at = startAt + i * SLOT_MS;
      if (scheduleMatches(window, at)) c[slotOfDay(at)]! += s;
    });
    miss.push(m);
    cost.push(c);
  }
  const allowed = Math.max(0, Math.floor(0.05 * peakJobs) - forced);
  const pick = (lambda: number) =>
    Array.from({ length: SLOTS_PER_DAY }, (_, s) => {
      let best = 0;
      for (let k = 1; k <= maxSpares; k++) {
        if (cost[k]![s]! + lambda * miss[k]![s]! < cost[best]![s]! + lambda * miss[best]![s]!) best = k;
      }
      return best;
    });
  const missesOf = (by: number[]) => by.reduce((a, k, s) => a + miss[k]![s]!, 0);
  // A larger lambda prices a miss higher: more spares, fewer misses. Bisect for the least that allows 5%.
  let lo = 0;
  let hi = 1e7;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (missesOf(pick(mid)) <= allowed) hi = mid;
    else lo = mid;
  }
  let bySlot = pick(hi);
  let result = evaluate(jobs, bySlot, window, leadS, startAt, endAt, inWindow, alwaysMiss, targetS);
  // The slots interact a little; add a spare to the busiest slots until the real run meets the target.
  const order = [...bySlot.keys()].sort((a, b) => miss[bySlot[b]!]![b]! - miss[bySlot[a]!]![a]! || a - b);
  for (let i = 0; result.peakP95WaitS > targetS && i < order.length * maxSpares; i++) {
    const s = order[i % order.length]!;
    if (bySlot[s]! < maxSpares && scheduleMatches(window, startAt + s * SLOT_MS)) {
      bySlot = bySlot.map((k, j) => (j === s ? k + 1 : k));
      result = evaluate(jobs, bySlot, window, leadS, startAt, endAt, inWindow, alwaysMiss, targetS);
    }
  }
  return result;
}

function evaluate(
  jobs: readonly SimJob[],
  bySlot: number[],
  window: Schedule,
  leadS: number,
  startAt: number,
  endAt: number,
  inWindow: boolean[],
  alwaysMiss: readonly boolean[],
  targetS: number,
): SpareOptimum {
  const run = runSpares(jobs, weekdaySpares(bySlot, window), leadS, startAt, endAt);
  const floor = jobs.reduce((a, j) => a + j.durationS, 0);
  let windowFloorS = 0;
  const peakWaits: number[] = [];
  jobs.forEach((j, i) => {
    if (!inWindow[i]) return;
    windowFloorS += j.durationS;
    // A job that must fetch its model waits longer than the target whatever the spares.
    peakWaits.push(alwaysMiss[i] === true ? Math.max(run.waitS[i]!, targetS + 1) : run.waitS[i]!);
  });
  let windowBilledS = 0;
  run.billedBySlot.forEach((s, i) => {
    if (scheduleMatches(window, startAt + i * SLOT_MS)) windowBilledS += s;
  });
  return {
    bySlot,
    run,
    peakP95WaitS: percentile(Float64Array.from(peakWaits).sort(), 95),
    costRatio: floor === 0 ? 0 : run.billedS / floor,
    windowBilledS,
    windowFloorS,
  };
}
