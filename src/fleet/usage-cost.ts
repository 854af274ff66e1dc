/**
 * An account's attributed GPU cost (`GET /v1/admin/accounts/{id}/usage`): per pool, the run seconds of its
 * finished jobs × the pool's price × (1 + the pool's idle seconds billed per busy second), so the cold starts
 * and idle time a pool pays for are shared out by use. A pool with no price has no cost (null), and the
 * total counts only priced pools (null when none is).
 */
import type { PoolUsage } from '../store/contract.js';
import type { FleetPricing } from './fleet-status.js';

export interface PoolCostShare {
  pool: string;
  jobs: number;
  runSeconds: number;
  /** Null when the pool has no price. */
  cost: number | null;
}

export interface AccountCost {
  pools: PoolCostShare[];
  jobs: number;
  runSeconds: number;
  cost: number | null;
}

/** The cost of `runSeconds` on a pool priced `price`. */
export function attributedCost(runSeconds: number, price: FleetPricing): number {
  return runSeconds * price.pricePerGpuSecond * (1 + price.idlePerBusySecond);
}

/** Prices each pool's usage with `priceOf` and totals them. */
export function accountCost(
  usage: readonly PoolUsage[],
  priceOf: (pool: string) => FleetPricing | undefined,
): AccountCost {
  const pools = usage.map((u) => {
    const price = priceOf(u.pool);
    return {
      pool: u.pool,
      jobs: u.jobs,
      runSeconds: u.runSeconds,
      cost: price === undefined ? null : attributedCost(u.runSeconds, price),
    };
  });
  const costs = pools.map((p) => p.cost).filter((c): c is number => c !== null);
  return {
    pools,
    jobs: pools.reduce((n, p) => n + p.jobs, 0),
    runSeconds: pools.reduce((n, p) => n + p.runSeconds, 0),
    cost: costs.length === 0 ? null : costs.reduce((a, b) => a + b, 0),
  };
}
