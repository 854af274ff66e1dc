/**
 * Runs the fleet on the one replica that holds the `arrakis-fleet` duty (the store's coordination decides:
 * always this process on SQLite, an advisory lock on Postgres). Gaining the duty starts the fleet, losing it
 * to another replica stops it; a short database outage neither stops nor restarts it.
 */
import type { Logger } from 'pino';
import type { PoolPricing } from '../api/context.js';
import {
  startFleet,
  type FleetRuntime,
  type FleetRuntimeDeps,
  type LoadedFleet,
} from '../fleet/fleet-runtime.js';
import type { FleetStatus } from '../fleet/fleet-status.js';
import type { Coordination } from '../store/coordination.js';

export interface FleetDuty {
  /** Per pool price and idle overhead; empty while another replica runs the fleet. */
  pricing(): ReadonlyMap<string, PoolPricing>;
  status(): FleetStatus | { pools: [] };
  stop(): Promise<void>;
}

export const FLEET_DUTY = 'arrakis-fleet';

/** Competes for the fleet duty and runs `fleet` while this process holds it. */
export function runFleetDuty(
  coordination: Coordination,
  fleet: LoadedFleet,
  deps: FleetRuntimeDeps & { log: Logger },
): FleetDuty {
  let running: FleetRuntime | null = null;
  let closing = false;
  // Starts and stops run one after another, in the order the duty changed hands.
  let chain: Promise<void> = Promise.resolve();
  const then = (what: string, step: () => Promise<void> | void): void => {
    chain = chain.then(step).catch((err: unknown) => deps.log.error({ err }, `fleet: ${what} failed`));
  };
  const leadership = coordination.lead(FLEET_DUTY, {
    onGained: () =>
      then('start', () => {
        if (closing || running !== null) return;
        running = startFleet(fleet, { ...deps, leading: () => leadership.held() });
        deps.log.info('this replica runs the fleet');
      }),
    onLost: () =>
      then('stop', async () => {
        deps.log.error("another replica took over the fleet; stopping this replica's fleet controller");
        const r = running;
        running = null;
        await r?.stop();
      }),
  });
  return {
    pricing: () => running?.pricing() ?? new Map(),
    status: () => running?.status() ?? { pools: [] },
    async stop() {
      closing = true;
      await chain;
      const r = running;
      running = null;
      // Our workers stop before the lock is released, so the next leader never overlaps with them.
      await r?.stop();
      await leadership.close();
    },
  };
}
