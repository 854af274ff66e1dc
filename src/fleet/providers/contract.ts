/**
 * How the fleet starts and stops ComfyUI workers, whatever runs them (a list of URLs, local processes,
 * Modal Sandboxes). The controller only ever uses these three verbs.
 */
import type { PoolConfig } from '../fleet-file.js';

export interface StartSpec {
  /** The controller's id for the worker (also a name/tag on the provider side). */
  workerId: string;
  /**
   * The model the worker's warm-up loads first (the plan's `startWith`), when any: a provider whose hosts
   * keep model files across workers starts it where that file already sits (a disk load, not a fetch).
   */
  firstModel?: string | null;
}

export interface StartedWorker {
  /** The provider's own handle (process id, sandbox id, URL), persisted as WorkerRecord.providerRef. */
  ref: string;
  /**
   * Resolves with the ComfyUI base URL once the worker answers (after its cold start), or rejects when it
   * never comes up; the provider has then already cleaned it up.
   */
  ready: Promise<string>;
  /** The worker's ComfyUI `models/` folder on this host, when the pool keeps a model cache there. */
  modelsDir?: string | null;
}

export interface ListedWorker {
  ref: string;
  comfyUrl: string | null;
}

export interface FleetProvider {
  readonly kind: 'static' | 'process' | 'modal';
  /** Starts one worker for the pool; returns at once with its handle, `ready` settles later. */
  start(pool: PoolConfig, spec: StartSpec): Promise<StartedWorker>;
  /** Stops a worker; stopping one that is already gone is not an error. */
  stop(ref: string): Promise<void>;
  /** Workers this provider runs now (used to adopt or clean up after a restart). */
  list(): Promise<ListedWorker[]>;
}

/** A provider could not start or stop a worker. */
export class ProviderError extends Error {
  readonly code = 'provider_failed';
}
