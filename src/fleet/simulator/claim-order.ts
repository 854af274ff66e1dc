/**
 * The simulator's claim rules. Fair order is the store's claimNext order: the user with the fewest running
 * jobs first, then higher priority, then the oldest job. A model-blind fleet gives the fair head to the most
 * recently idle worker. With affinity, a free worker prefers a job whose model it holds (in VRAM, then on
 * disk), but a job passed over keeps a bypass clock: once it has been passed over for the affinity bound it
 * is taken next in fair order, so no job waits much more than the bound longer than under plain fair order.
 */

export interface QueuedJob {
  index: number;
  user: string;
  priority: number;
  at: number;
  model: string | null;
  /** When a worker first took a later job in its place, or the job first chose to wait; null until then. */
  bypassedSince: number | null;
  /** Waiting (within the bound) for a busy worker that holds its model rather than fetching it elsewhere. */
  awaitingHolder: boolean;
}

/** How the affine claim sees one job's model: the load it would cost on a worker, and whether to wait. */
export interface AffinityCosts<W> {
  loadCost(worker: W, model: string | null): number;
  /** A load at least this long is worth waiting for a busy worker that holds the model. */
  waitAbove: number;
  /** True when a worker that is not free now holds the model (in VRAM or on disk). */
  heldElsewhere(model: string): boolean;
}

/** Jobs considered for an affine match: the fair head and the next ones (a long queue is mostly one model anyway). */
const AFFINITY_WINDOW = 64;

function fairBefore(a: QueuedJob, ar: number, b: QueuedJob, br: number): boolean {
  return ar < br || (ar === br && (a.priority > b.priority || (a.priority === b.priority && a.at < b.at)));
}

/** Position in `queue` of the job fair order picks next (-1 when empty). */
function fairHead(queue: readonly QueuedJob[], running: ReadonlyMap<string, number>): number {
  let best = -1;
  let bestRunning = 0;
  for (let i = 0; i < queue.length; i++) {
    const q = queue[i]!;
    const r = running.get(q.user) ?? 0;
    if (best < 0 || fairBefore(q, r, queue[best]!, bestRunning)) [best, bestRunning] = [i, r];
  }
  return best;
}

/** Removes and returns the queued job the fairness rule picks next (undefined when the queue is empty). */
export function takeFair(queue: QueuedJob[], running: ReadonlyMap<string, number>): QueuedJob | undefined {
  const best = fairHead(queue, running);
  return best < 0 ? undefined : queue.splice(best, 1)[0];
}

/** Positions of `queue` in fair order. */
function fairOrder(queue: readonly QueuedJob[], running: ReadonlyMap<string, number>): number[] {
  const order = queue.map((_, i) => i);
  const r = (i: number) => running.get(queue[i]!.user) ?? 0;
  return order.sort((a, b) =>
    fairBefore(queue[a]!, r(a), queue[b]!, r(b))
      ? -1
      : fairBefore(queue[b]!, r(b), queue[a]!, r(a))
        ? 1
        : a - b,
  );
}

/**
 * Picks a (job, worker) pair with affinity: an overdue job (passed over for `maxDelayMs`) first, to its
 * cheapest worker; else the pair with the cheapest model load among the first jobs in fair order, ties to
 * the fairer job and then to the earlier worker in `idle`. A job whose only loads would fetch, and whose
 * model a busy worker holds, waits for that worker (within the bound) instead. Jobs passed over start their
 * bypass clock. Removes the chosen job from the queue; undefined when every job waits.
 */
export function takeAffine<W>(
  queue: QueuedJob[],
  running: ReadonlyMap<string, number>,
  idle: readonly W[],
  costs: AffinityCosts<W>,
  now: number,
  maxDelayMs: number,
): { job: QueuedJob; worker: W } | undefined {
  if (queue.length === 0 || idle.length === 0) return undefined;
  const order = fairOrder(queue, running);
  const overdue = order.findIndex((i) => {
    const since = queue[i]!.bypassedSince;
    return since !== null && now - since >= maxDelayMs;
  });
  const scan = overdue >= 0 ? [order[overdue]!] : order.slice(0, AFFINITY_WINDOW);
  let best = { pos: -1, worker: 0, cost: Number.POSITIVE_INFINITY };
  for (let pos = 0; pos < scan.length && best.cost > 0; pos++) {
    const job = queue[scan[pos]!]!;
    let jobBest = { worker: 0, cost: Number.POSITIVE_INFINITY };
    for (let w = 0; w < idle.length && jobBest.cost > 0; w++) {
      const cost = costs.loadCost(idle[w]!, job.model);
      if (cost < jobBest.cost) jobBest = { worker: w, cost };
    }
    const wait =
      overdue < 0 && job.model !== null && jobBest.cost >= costs.waitAbove && costs.heldElsewhere(job.model);
    job.awaitingHolder = wait;
    if (!wait && jobBest.cost < best.cost) best = { pos, ...jobBest };
  }
  const passed = best.pos < 0 ? scan.length : best.pos;
  if (overdue < 0) for (let pos = 0; pos < passed; pos++) queue[scan[pos]!]!.bypassedSince ??= now;
  if (best.pos < 0) return undefined;
  const job = queue.splice(scan[best.pos]!, 1)[0]!;
  return { job, worker: idle[best.worker]! };
}
