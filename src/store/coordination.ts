/**
 * Coordination between the processes that share one database, owned by the store because only the store
 * knows its dialect: the job event bus and leader election for duties that must run once (the fleet).
 * SQLite is one process: an in-process bus and always the leader. Postgres: LISTEN/NOTIFY and a session
 * advisory lock (see postgres/listen-bus.ts and postgres/advisory-leadership.ts).
 */
import type { EventBus } from '../events/bus.js';
import { createLocalBus } from '../events/local-bus.js';
import type { OutageLog } from '../util/backoff.js';

/** What a leader learns about its duty. Both are called on the event loop, never inside `lead()`. */
export interface LeaderHandlers {
  /** This process now holds the duty (called again after a loss, when it wins it back). */
  onGained(): void;
  /** Another process took the duty over; stop doing it. */
  onLost(): void;
}

export interface Leadership {
  /** True while this process holds the duty's lock (false while reconnecting after an outage). */
  held(): boolean;
  /** Stops competing and gives the duty up. */
  close(): Promise<void>;
}

export interface Coordination {
  readonly bus: EventBus;
  /** Competes for duty `name` until closed; a connection lost during an outage is re-taken when it returns. */
  lead(name: string, handlers: LeaderHandlers): Leadership;
}

export interface CoordinationOptions {
  /** Where reconnects are reported (once per outage). */
  log?: OutageLog;
  /** How often a replica that does not lead tries again (default 5 s). */
  leaderRetryMs?: number;
}

/** One process owns the database: an in-process bus, and every duty is ours at once. */
export function localCoordination(): Coordination & { close(): Promise<void> } {
  const bus = createLocalBus();
  return {
    bus,
    lead(_name, handlers) {
      let closed = false;
      queueMicrotask(() => {
        if (!closed) handlers.onGained();
      });
      return {
        held: () => !closed,
        close: async () => {
          closed = true;
        },
      };
    },
    close: () => bus.close(),
  };
}
