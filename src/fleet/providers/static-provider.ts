/**
 * The `static` provider: ComfyUI servers someone else runs, named by URL. "Starting" hands out the next
 * URL not in use and "stopping" hands it back; nothing is created or destroyed, so scaling costs nothing.
 */
import type { PoolConfig } from '../fleet-file.js';
import { ProviderError, type FleetProvider, type ListedWorker, type StartedWorker } from './contract.js';

export class StaticProvider implements FleetProvider {
  readonly kind = 'static';
  private readonly inUse = new Set<string>();

  constructor(private readonly urls: readonly string[]) {}

  /** Hands out a configured URL that no worker uses yet. */
  async start(pool: PoolConfig): Promise<StartedWorker> {
    const url = this.urls.find((u) => !this.inUse.has(u));
    if (url === undefined) {
      throw new ProviderError(`pool ${pool.name}: all ${this.urls.length} static ComfyUI URLs are in use`);
    }
    this.inUse.add(url);
    return { ref: url, ready: Promise.resolve(url) };
  }

  /** Returns the URL to the free list. */
  async stop(ref: string): Promise<void> {
    this.inUse.delete(ref);
  }

  /** Every configured URL is a worker that exists. */
  async list(): Promise<ListedWorker[]> {
    return this.urls.map((u) => ({ ref: u, comfyUrl: u }));
  }
}
