/**
 * Recent submissions and finishes per pool, fed from job events, for the autoscaler's snapshot (the store
 * keeps jobs, not a rolling window). Entries older than the window are dropped as new ones arrive.
 */
import { ArrivalHistory } from './arrival-history.js';
import type { ArrivalProfile, RecentFinish } from './policy-types.js';

/** Longest look-back any policy uses (the autoscaler's keep window). */
export const ACTIVITY_WINDOW_MS = 300_000;

export class ActivityTracker {
  private readonly arrivals = new Map<string, number[]>();
  private readonly finishes = new Map<string, RecentFinish[]>();
  private readonly history = new Map<string, ArrivalHistory>();

  constructor(private readonly windowMs: number = ACTIVITY_WINDOW_MS) {}

  /** A job was admitted to `pool`. */
  submitted(pool: string, at: number): void {
    const list = this.arrivals.get(pool) ?? [];
    list.push(at);
    const history = this.history.get(pool) ?? new ArrivalHistory();
    history.record(at);
    this.history.set(pool, history);
    this.arrivals.set(
      pool,
      prune(list, (t) => t, at - this.windowMs),
    );
  }

  /** A job of `userId` on `pool` ended (any terminal state); `model`: its base model, for session copies. */
  finished(pool: string, userId: string, at: number, model: string | null = null): void {
    const list = this.finishes.get(pool) ?? [];
    list.push({ userId, at, model });
    this.finishes.set(
      pool,
      prune(list, (f) => f.at, at - this.windowMs),
    );
  }

  /** The pool's submissions and finishes within the window before `now`, and its hour-of-day profile. */
  recent(
    pool: string,
    now: number,
  ): { recentArrivals: number[]; recentFinishes: RecentFinish[]; arrivalProfile: ArrivalProfile } {
    const since = now - this.windowMs;
    return {
      recentArrivals: (this.arrivals.get(pool) ?? []).filter((t) => t > since),
      recentFinishes: (this.finishes.get(pool) ?? []).filter((f) => f.at > since),
      arrivalProfile: (this.history.get(pool) ?? new ArrivalHistory()).profile(now),
    };
  }
}

function prune<T>(list: T[], at: (x: T) => number, since: number): T[] {
  let drop = 0;
  while (drop < list.length && at(list[drop]!) <= since) drop++;
  return drop === 0 ? list : list.slice(drop);
}
