/**
 * Wiring of the scrape-time metric sources: the database's workers by pool and state, and the fleet's
 * per-pool figures. The database-wide gauges are exported by the replica that holds the `arrakis-metrics`
 * duty (always this process on SQLite; one replica at a time on Postgres), so `sum()` across replicas counts
 * each job and worker once.
 */
import type { FleetGauges, MetricSources } from '../api/metrics.js';
import type { FleetStatus } from '../fleet/fleet-status.js';
import type { Store } from '../store/contract.js';
import type { Coordination, Leadership } from '../store/coordination.js';

export const METRICS_DUTY = 'arrakis-metrics';

/** Non-stopped workers counted by pool and status. */
async function workersByPoolAndState(
  store: Store,
): Promise<Array<{ pool: string; state: string; count: number }>> {
  const counts = new Map<string, { pool: string; state: string; count: number }>();
  for (const w of await store.listWorkers()) {
    const key = `${w.pool}\u0000${w.status}`;
    const row = counts.get(key) ?? { pool: w.pool, state: w.status, count: 0 };
    row.count++;
    counts.set(key, row);
  }
  return [...counts.values()];
}

/** Per pool: workers by state, last target and cost; empty when this replica does not run the fleet. */
function fleetGauges(
  status: FleetStatus | { pools: [] },
  targets: ReadonlyMap<string, number>,
): FleetGauges[] {
  return status.pools.map((p) => {
    const workers: Record<string, number> = {};
    for (const w of p.workers) workers[w.state] = (workers[w.state] ?? 0) + 1;
    return { pool: p.name, target: targets.get(p.name) ?? null, workers, cost: p.cost.cost };
  });
}

export interface MetricSourceDeps {
  store: Store;
  coordination: Coordination;
  /** The fleet's status on this replica (empty pools when another replica runs it, or no fleet). */
  fleetStatus: () => FleetStatus | { pools: [] };
}

/** The sources, the autoscaler's targets (set by the fleet's decisions) and the exporter duty to close. */
export function metricSources(deps: MetricSourceDeps): {
  sources: MetricSources;
  targets: Map<string, number>;
  exporter: Leadership;
} {
  const exporter = deps.coordination.lead(METRICS_DUTY, { onGained: () => {}, onLost: () => {} });
  const targets = new Map<string, number>();
  return {
    sources: {
      jobsByStatus: () => deps.store.countJobsByStatus(),
      workersByPoolAndState: () => workersByPoolAndState(deps.store),
      fleet: () => fleetGauges(deps.fleetStatus(), targets),
      exportsDatabaseGauges: () => exporter.held(),
    },
    targets,
    exporter,
  };
}
