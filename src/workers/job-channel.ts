/**
 * The agent's whole view of the control plane. The same runner code drives a LocalJobChannel (store, storage
 * and bus in this process) and a RemoteJobChannel (the worker HTTP API, for agents that can only connect out).
 */
import type {
  JobError,
  JobInput,
  JobOutput,
  JobProgress,
  JobStatus,
  OutputType,
  Workflow,
} from '../jobs/types.js';
import type { LeaseState, ModelFile, WorkerStatus } from '../store/contract.js';
import type { ModelRef } from '../models/model-refs.js';

/** A job leased to this worker: everything the runner needs, nothing of the tenant. */
export interface LeasedJob {
  id: string;
  workflow: Workflow;
  inputs: JobInput[];
  /** 1 on the first claim; a retry after a lost worker is 2, and so on. */
  attempt: number;
  /** Lease length granted by the control plane; the runner renews every third of it. */
  leaseMs: number;
  /** Node types whose file inputs the account's operator allowlisted (docs/security.md); none when absent. */
  fileNodeAllowlist?: string[];
  /** The model files the workflow loads (fetched into the model cache before the run when missing). */
  models: ModelRef[];
}

/** One model load a worker performed: where its files came from and how long it took. */
export interface ModelLoad {
  tier: 'disk' | 'fetch';
  seconds: number;
}

/** What an agent reports of its models (names as ComfyUI's loader combos list them). */
export interface ModelReport {
  available: string[];
  warm: string[];
  onDisk: string[];
  canFetch: boolean;
  switches: number;
  /** Loads since the previous report (metrics). */
  loads: ModelLoad[];
  /** Asked prefetch files the agent gave up on (the ask is dropped); absent = none. */
  prefetchFailed?: string[];
}

/**
 * How long a prefetch file an agent gave up on stays refused: the agent reports it that long, and the control
 * plane (which keeps the list in its store) forgets it after that long even when no report says so.
 */
export const PREFETCH_REFUSED_MS = 30 * 60_000;

/** How a terminal report ended: the job's final status, or `lost` when this worker no longer held it. */
export type ReportResult = { kind: 'finished'; status: JobStatus } | { kind: 'lost' };

/** An output file to store while its job runs (its place in the output list is given at completion). */
export interface OutputFile {
  /** The order this run stored its files in (0, 1, …): part of the object key, so a retry overwrites. */
  seq: number;
  nodeId: string;
  filename: string;
  contentType: string;
  bytes: Buffer;
  /** `temp` for previews (PreviewImage), `output` for saved files. */
  type: OutputType;
}

/** An output file in storage under the job's prefix; `complete` reports it with its index. */
export type StoredOutput = Omit<JobOutput, 'index'>;

/** Who the worker is, sent once at registration. */
export interface WorkerIdentity {
  name: string;
  /** The pool served; null only for a remote agent, which then serves its token's pool. */
  pool: string | null;
  comfyUrl: string | null;
}

/** Thrown by storeOutput when storage refused the bytes (the job then fails `output_store_failed`). */
export class OutputStoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OutputStoreError';
  }
}

/**
 * What became of a job prompt found left on a ComfyUI (WorkerService.releaseLeftover): stop it when `released`
 * or `stale`; leave it when `held`; ask again after `retryAfterMs` when `recent` (its holder may be alive).
 */
export type LeftoverAnswer =
  { outcome: 'released' | 'held' | 'stale' } | { outcome: 'recent'; retryAfterMs: number };

/** Thrown by a job verb when the worker no longer holds the job's lease. */
export class LeaseLostError extends Error {
  constructor(jobId: string) {
    super(`the lease on job ${jobId} is no longer held by this worker`);
    this.name = 'LeaseLostError';
  }
}

export interface JobChannel {
  /** Registers (or re-registers) the worker; returns its id. Called once before anything else. */
  register(identity: WorkerIdentity): Promise<string>;
  setStatus(status: WorkerStatus): Promise<void>;
  /** The next job for this worker, waiting up to `waitMs` for one to become claimable; null when none came. */
  claim(waitMs: number, signal?: AbortSignal): Promise<LeasedJob | null>;
  /** Renews the lease and reports whether a cancel was requested or the lease is gone. */
  heartbeat(jobId: string, signal?: AbortSignal): Promise<LeaseState>;
  /** Records progress; false when the lease is gone. */
  progress(jobId: string, progress: JobProgress): Promise<boolean>;
  /** The bytes of one of the job's stored inputs; `signal` (the job's stop) ends a transfer still arriving. */
  getInput(jobId: string, input: JobInput, signal?: AbortSignal): Promise<Buffer>;
  /**
   * Stores one output file (`jobs/<jobId>/outputs/<attempt>.<seq>-<filename>`, see output-key.ts) while the
   * job still runs: storage only, nothing announced. Throws OutputStoreError or LeaseLostError.
   */
  storeOutput(jobId: string, file: OutputFile): Promise<StoredOutput>;
  /**
   * Completes the job with these stored outputs, in order: their `output` events and `done` are one commit.
   * Each must be a file storeOutput stored for this job. `progress`, the run's last progress not yet reported,
   * is recorded first, in the same commit where the store allows (see Store.completeJob).
   */
  complete(jobId: string, outputs: JobOutput[], progress?: JobProgress): Promise<ReportResult>;
  fail(jobId: string, error: JobError): Promise<ReportResult>;
  /** The prompt has stopped after a cancel request: the job ends `cancelled`. */
  finishCancel(jobId: string): Promise<ReportResult>;
  /** Gives the job back (ComfyUI died, or the agent is stopping): requeued elsewhere or `worker_lost`. */
  /** Gives the job back to the queue; `voluntary` (this worker is stopping) does not spend an attempt. */
  release(jobId: string, reason: string, voluntary?: boolean): Promise<ReportResult>;
  /**
   * Tells the control plane that the prompt of attempt `attempt` of job `jobId` is in this worker's ComfyUI's
   * queue while the worker runs no job: the job goes back to the queue when that attempt still runs under this
   * worker, or under an earlier process of its slot that stopped renewing the lease. The answer says what to do
   * with the prompt (LeftoverAnswer; WorkerService.releaseLeftover).
   */
  releaseLeftover(jobId: string, attempt: number, signal?: AbortSignal): Promise<LeftoverAnswer>;
  /** Records the worker's models (see ModelReport); answers the files the fleet asks it to prefetch. */
  reportModels(report: ModelReport): Promise<ModelRef[]>;
  /** The registry entry of a model file the model cache may fetch, or null when it is not registered. */
  modelFile(name: string): Promise<ModelFile | null>;
  /** Calls `cb` once as soon as a cancel is requested for the job. Returns an unsubscribe function. */
  onCancel(jobId: string, cb: () => void): () => void;
  close(): Promise<void>;
}
