/**
 * The pools a job may name at submission. A job naming a pool nothing serves would wait forever holding a
 * quota slot, so admission refuses it (`pool_unknown`). Known pools are: `default` when this serve runs
 * static (`--comfyui`) or comfy-lite workers, every pool of the fleet file (workers start on demand, so an
 * empty pool still exists), and the pool of every live registered worker (remote agents, any replica's).
 */
import { loadFleetFile } from '../fleet/fleet-file.js';
import type { Store } from '../store/contract.js';

/** The pool in-process and remote agents serve when they name none (see LocalJobChannel, worker tokens). */
export const DEFAULT_POOL = 'default';

export interface KnownPoolsOptions {
  store: Pick<Store, 'listWorkers'>;
  /** This process runs agents of its own (`--comfyui`, `--comfy-lite`), which serve `default`. */
  localWorkers: boolean;
  /** The fleet file, when one is configured. A file that fails to load adds no pools (the fleet reports it). */
  fleetFile?: string;
}

/** Lists known pools; the store is asked only when a pool is not known statically. */
export class KnownPools {
  private readonly fixed: Promise<ReadonlySet<string>>;

  constructor(private readonly options: KnownPoolsOptions) {
    const base = options.localWorkers ? [DEFAULT_POOL] : [];
    const { fleetFile } = options;
    this.fixed =
      fleetFile === undefined
        ? Promise.resolve(new Set(base))
        : loadFleetFile(fleetFile)
            .then((f) => new Set([...base, ...f.pools.map((p) => p.name)]))
            .catch(() => new Set(base));
  }

  /** Null when `pool` exists, else every pool that does (sorted), for the refusal. */
  async unknown(pool: string): Promise<string[] | null> {
    const fixed = await this.fixed;
    if (fixed.has(pool)) return null;
    const live = (await this.options.store.listWorkers({ includeStopped: false })).map((w) => w.pool);
    if (live.includes(pool)) return null;
    return [...new Set([...fixed, ...live])].sort();
  }
}
