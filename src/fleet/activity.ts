/**
 * Recent submissions and finishes per pool, fed from job events, for the autoscaler's snapshot (the store
 * keeps jobs, not a rolling window). Entries older than the window are dropped as new ones arrive.
 */
import type { RecentFinish } from './policy-types.js';

/** Longest look-back any policy uses (the autoscaler's keep window). */
export const ACTIVITY_WINDOW_MS = 300_000;

export class ActivityTracker {
  private readonly arrivals = new Map<string, number[]>();
  private readonly finishes = new Map<string, RecentFinish[]>();

  constructor(private readonly windowMs: number = ACTIVITY_WINDOW_MS) {}

  /** A job was admitted to `pool`. */
  submitted(pool: string, at: number): void {
    const list = this.arrivals.get(pool) ?? [];
    list.push(at);
    this.arrivals.set(
      pool,
      prune(list, (t) => t, at - this.windowMs),
    );
  }

  /** A job of `userId` on `pool` ended (any terminal state). */
  finished(pool: string, userId: string, at: number): void {
    const list = this.finishes.get(pool) ?? [];
    list.push({ userId, at });
    this.finishes.set(
      pool,
      prune(list, (f) => f.at, at - this.windowMs),
    );
  }

  /** The pool's submissions and finishes within the window before `now`. */
  recent(pool: string, now: number): { recentArrivals: number[]; recentFinishes: RecentFinish[] } {
    const since = now - this.windowMs;
    return {
      recentArrivals: (this.arrivals.get(pool) ?? []).filter((t) => t > since),
      recentFinishes: (this.finishes.get(pool) ?? []).filter((f) => f.at > since),
    };
  }
}

function prune<T>(list: T[], at: (x: T) => number, since: number): T[] {
  let drop = 0;
  while (drop < list.length && at(list[drop]!) <= since) drop++;
  return drop === 0 ? list : list.slice(drop);
}
