/**
 * The simulator's claim rule, the same order as the store's claimNext: the user with the fewest running
 * jobs first, then higher priority, then the oldest job.
 */

export interface QueuedJob {
  index: number;
  user: string;
  priority: number;
  at: number;
}

/** Removes and returns the queued job the fairness rule picks next (undefined when the queue is empty). */
export function takeFair(
  queue: QueuedJob[],
  runningByUser: ReadonlyMap<string, number>,
): QueuedJob | undefined {
  let best = -1;
  let bestRunning = 0;
  for (let i = 0; i < queue.length; i++) {
    const q = queue[i]!;
    const running = runningByUser.get(q.user) ?? 0;
    if (best < 0) {
      best = i;
      bestRunning = running;
      continue;
    }
    const b = queue[best]!;
    if (
      running < bestRunning ||
      (running === bestRunning && (q.priority > b.priority || (q.priority === b.priority && q.at < b.at)))
    ) {
      best = i;
      bestRunning = running;
    }
  }
  if (best < 0) return undefined;
  return queue.splice(best, 1)[0];
}
