/**
 * Pools, decided once at serve start. The default pool is the pool of every job that names none (resolved at
 * admission and stored), of this serve's own agents, and of worker tokens issued without a pool:
 * `--default-pool` when set, else the fleet file's `default_pool`, else the fleet file's first pool (the pool
 * the fleet has always scaled for such jobs), else `default`.
 *
 * The pools a job may name at submission: a job naming a pool nothing serves would wait forever holding a
 * quota slot, so admission refuses it (`pool_unknown`). Known pools are: the default pool (a job naming it
 * is the same as one naming none), every pool of the fleet file (workers start on demand, so an empty pool
 * still exists), and the pool of every live registered worker (remote agents, any replica's).
 */
import type { FleetConfig } from '../fleet/fleet-file.js';
import type { Store } from '../store/contract.js';

/** The default pool when neither the settings nor a fleet file name one. */
const BUILT_IN_DEFAULT_POOL = 'default';

/** The default pool of this serve (see the header for the order). */
export function resolveDefaultPool(
  setting: string | undefined,
  fleet: Pick<FleetConfig, 'pools' | 'defaultPool'> | null,
): string {
  return setting ?? fleet?.defaultPool ?? fleet?.pools[0]?.name ?? BUILT_IN_DEFAULT_POOL;
}

export interface KnownPoolsOptions {
  store: Pick<Store, 'listWorkers'>;
  /** This serve's default pool (its own agents serve it). */
  defaultPool: string;
  /** The pools of the fleet file, when one is configured (it was validated before serve started). */
  fleetPools?: readonly string[];
}

/** Lists known pools; the store is asked only when a pool is not known statically. */
export class KnownPools {
  private readonly fixed: ReadonlySet<string>;

  constructor(private readonly options: KnownPoolsOptions) {
    this.fixed = new Set([options.defaultPool, ...(options.fleetPools ?? [])]);
  }

  /** Null when `pool` exists, else every pool that does (sorted), for the refusal. */
  async unknown(pool: string): Promise<string[] | null> {
    const fixed = this.fixed;
    if (fixed.has(pool)) return null;
    const live = (await this.options.store.listWorkers({ includeStopped: false })).map((w) => w.pool);
    if (live.includes(pool)) return null;
    return [...new Set([...fixed, ...live])].sort();
  }
}
