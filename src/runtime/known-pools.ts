/**
 * The pools a job may name at submission. A job naming a pool nothing serves would wait forever holding a
 * quota slot, so admission refuses it (`pool_unknown`). Known pools are: `default` when this serve runs
 * static (`--comfyui`) or comfy-lite workers, every pool of the fleet file (workers start on demand, so an
 * empty pool still exists), and the pool of every live registered worker (remote agents, any replica's).
 */
import type { Store } from '../store/contract.js';

/** The pool in-process and remote agents serve when they name none (see LocalJobChannel, worker tokens). */
export const DEFAULT_POOL = 'default';

export interface KnownPoolsOptions {
  store: Pick<Store, 'listWorkers'>;
  /** This process runs agents of its own (`--comfyui`, `--comfy-lite`), which serve `default`. */
  localWorkers: boolean;
  /** The pools of the fleet file, when one is configured (it was validated before serve started). */
  fleetPools?: readonly string[];
}

/** Lists known pools; the store is asked only when a pool is not known statically. */
export class KnownPools {
  private readonly fixed: ReadonlySet<string>;

  constructor(private readonly options: KnownPoolsOptions) {
    const base = options.localWorkers ? [DEFAULT_POOL] : [];
    this.fixed = new Set([...base, ...(options.fleetPools ?? [])]);
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
