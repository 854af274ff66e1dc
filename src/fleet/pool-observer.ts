/**
 * What the fleet controller sees of a pool each tick: queued and running jobs, recent arrivals and finishes,
 * active users, and the state of each ready worker's agent. Arrivals are read from the store (every replica's
 * admissions), each once; the first look reaches back a week so the hour-of-day profile starts from history.
 */
import type { Store } from '../store/contract.js';
import { ACTIVITY_WINDOW_MS, type ActivityTracker } from './activity.js';
import { HISTORY_DAYS } from './arrival-history.js';
import type { PoolObservation } from './controller.js';
import type { ModelObserver } from './model-observer.js';
import type { AgentActivity } from './policy-types.js';

export interface PoolObserverDeps {
  store: Pick<Store, 'fleetActivity' | 'countJobsByStatus'>;
  activity: ActivityTracker;
  /** Busy or idle, per worker id with an agent attached. */
  workerStates(): ReadonlyMap<string, AgentActivity>;
  /** Reads per-model demand and the workers' models for the model plan; absent = model-blind. */
  models?: ModelObserver;
}

/** Reads one pool's observation; throws when the store does (the controller records a failed tick). */
export class PoolObserver {
  /** Per pool, the newest creation time already fed to the tracker. */
  private readonly seen = new Map<string, number>();

  constructor(private readonly deps: PoolObserverDeps) {}

  async observe(pool: string, now: number): Promise<PoolObservation> {
    const activeUsers = await this.arrivals(pool, now);
    // Every job carries its concrete pool (resolved at admission): no other pool's jobs count here.
    const counts = await this.deps.store.countJobsByStatus(pool);
    const models = await this.deps.models?.observe(pool, [pool], now);
    return {
      queued: counts.queued,
      running: counts.running,
      ...this.deps.activity.recent(pool, now),
      activeUsers,
      workerStates: this.deps.workerStates(),
      ...(models === undefined ? {} : { models }),
    };
  }

  private async arrivals(pool: string, now: number): Promise<ReadonlySet<string>> {
    const last = this.seen.get(pool);
    const since =
      last === undefined ? now - HISTORY_DAYS * 86_400_000 : Math.max(last + 1, now - ACTIVITY_WINDOW_MS);
    const found = await this.deps.store.fleetActivity([pool], since);
    // Only after the read succeeded: a failed tick must not skip this window next time.
    if (last === undefined) this.seen.set(pool, since);
    for (const at of found.arrivals) this.deps.activity.submitted(pool, at);
    const newest = found.arrivals[found.arrivals.length - 1];
    if (newest !== undefined) this.seen.set(pool, newest);
    return new Set(found.activeUsers);
  }
}
