/**
 * The agent's models: which files its ComfyUI can load (its loaders' lists in `/object_info`), which it holds
 * resident (tracked from the jobs that ran, see WarmSet), which sit on its disk, and — with a model cache —
 * fetching a job's missing registered files before it runs (and, in the background while idle, the files the
 * fleet asks it to prefetch: model-prefetcher.ts, and the models it asks it to load into VRAM from its disk:
 * model-preloader.ts). Reports all of it to the control plane after every change,
 * so placement and affinity see the worker as it is.
 */
import type { ModelCache } from '../models/model-cache.js';
import { fetchAvailableModels } from '../models/object-info-models.js';
import { CORE_LOADERS, type LoaderInput, type ModelRef } from '../models/model-refs.js';
import { WarmSet, type LoadTier } from '../models/warm-set.js';
import { Retry } from '../util/backoff.js';
import { silentLog, type AgentLog } from './agent-log.js';
import { ModelPrefetcher, type PrefetchRetryOptions } from './model-prefetcher.js';
import { ModelPreloader } from './model-preloader.js';
import type { ComfyServer } from '../comfy/contract.js';
import type { JobChannel, LeasedJob, ModelLoad } from '../workers/job-channel.js';

export type { PrefetchRetryOptions } from './model-prefetcher.js';

export interface ModelKeeperOptions {
  channel: JobChannel;
  comfyUrl: string;
  /** Loader inputs beyond ComfyUI's core ones (`--model-loaders`). */
  loaders?: readonly LoaderInput[];
  /** The model cache, when the agent has a `--models-dir`. */
  cache?: ModelCache | null;
  /** How many jobs' models its ComfyUI keeps resident (its `--cache-lru`, bounded by VRAM); default 1. */
  vramModels?: number;
  /** Tries and gaps of a failing prefetch or preload (default DEFAULT_PREFETCH_RETRY). */
  prefetchRetry?: PrefetchRetryOptions;
  /**
   * Preloads (a fleet agent): the agent's ComfyUI client and the pool's warm-up workflow made to load a model
   * (null when it has no loader of the model's kind). Absent: this agent cannot preload.
   */
  preload?: {
    comfy: ComfyServer;
    loading: (ref: ModelRef) => Record<string, unknown> | null;
  };
  log?: AgentLog;
}

/** One job's model work, from prepare to finish. */
export interface ModelRun {
  tier: LoadTier | null;
  startedAt: number;
  fetchSeconds: number;
}

export class ModelKeeper {
  private readonly warm: WarmSet;
  private readonly loaders: readonly LoaderInput[];
  private available: string[] = [];
  private onDisk: string[] = [];
  private pending: ModelLoad[] = [];
  /** The fleet's prefetch asks, fetched in the background; null without a model cache. */
  private readonly prefetcher: ModelPrefetcher | null;
  /** The fleet's preload asks, run as prompts of their own while the worker is free; null when it cannot. */
  private readonly preloader: ModelPreloader | null;
  /**
   * Only for its once-per-outage logging: the agent reports at every idle turn, so while the control plane
   * is away a failed report is simply made again at the next turn (paced by the claim loop's backoff).
   */
  private readonly reports: Retry;
  /**
   * The report on its way, and the one asked for meanwhile: at most one is in flight, so the control plane
   * stores the reports (and the agent hears their answers) in the order their states were taken — two at once
   * (the idle timer's and the claim loop's, a job's end and a preload's) could arrive the other way round, an
   * older state overwriting a newer one. Every report asked for while one is in flight is the one next report,
   * made once it is back, with the state of that moment.
   */
  private inFlight: Promise<void> | null = null;
  private next: Promise<void> | null = null;

  constructor(private readonly options: ModelKeeperOptions) {
    this.warm = new WarmSet(options.vramModels ?? 1);
    this.loaders = [...CORE_LOADERS, ...(options.loaders ?? [])];
    this.reports = new Retry("reporting the worker's models", this.log);
    const cache = options.cache;
    this.prefetcher =
      cache == null
        ? null
        : new ModelPrefetcher({
            cache,
            lookup: (name) => options.channel.modelFile(name),
            log: this.log,
            retry: options.prefetchRetry,
            onFetched: () => this.refresh(),
          });
    const preload = options.preload;
    this.preloader =
      preload === undefined
        ? null
        : new ModelPreloader({
            ...preload,
            log: this.log,
            retry: options.prefetchRetry,
            onStarted: () => this.preloadStarted(),
            onLoaded: (ref, seconds) => this.preloaded(ref, seconds),
          });
  }

  private get log(): AgentLog {
    return this.options.log ?? silentLog;
  }

  /** Re-reads what ComfyUI lists and what is on disk, then reports. Never throws. */
  async refresh(): Promise<void> {
    try {
      this.available = await fetchAvailableModels(this.options.comfyUrl, this.loaders);
    } catch (err) {
      this.log.warn({ err: String(err) }, 'could not list models from /object_info');
    }
    if (this.options.cache != null) this.onDisk = await this.options.cache.onDisk().catch(() => this.onDisk);
    await this.report();
  }

  /** Fetches the job's missing files (with a cache) and says which tier its models come from. */
  async prepare(job: LeasedJob): Promise<ModelRun> {
    const refs: readonly ModelRef[] = job.models ?? [];
    const run: ModelRun = { tier: null, startedAt: Date.now(), fetchSeconds: 0 };
    if (refs.length === 0) return run;
    if (this.warm.holds(refs)) return { ...run, tier: 'vram' };
    const cache = this.options.cache;
    if (cache == null) return { ...run, tier: 'disk' };
    const result = await cache.ensure(refs, (name) => this.options.channel.modelFile(name));
    if (result.fetched.length > 0) {
      this.log.info(
        { jobId: job.id, files: result.fetched, seconds: result.fetchSeconds },
        'model files fetched',
      );
      await this.refresh();
    }
    return { ...run, tier: result.fetched.length > 0 ? 'fetch' : 'disk', fetchSeconds: result.fetchSeconds };
  }

  /**
   * After the job: its files are now resident when it completed (ComfyUI ran or reused its loaders). A load's
   * seconds run from the job's start on this worker to its first progress event (or its end).
   */
  async finish(
    job: LeasedJob,
    run: ModelRun,
    completed: boolean,
    firstProgressAt: number | null,
  ): Promise<void> {
    const refs = job.models ?? [];
    if (!completed || refs.length === 0) return;
    const loaded = this.warm.ran(refs);
    if (loaded && run.tier !== null && run.tier !== 'vram') {
      this.pending.push({
        tier: run.tier,
        seconds: ((firstProgressAt ?? Date.now()) - run.startedAt) / 1000,
      });
    }
    await this.report();
  }

  /** The fleet asked for files this agent's cache can fetch (and has not given up on). */
  get wantsPrefetch(): boolean {
    return this.prefetcher?.wanted ?? false;
  }

  /**
   * The fleet asks this worker to load `ref` from its disk into VRAM while it is free (model-preloader.ts);
   * false when the ask is not taken (no preloads here, the warm-up has no loader of its kind, it is resident
   * or being loaded already, or it failed lately).
   */
  preload(ref: ModelRef): boolean {
    if (this.preloader === null || this.warm.holds([ref])) return false;
    return this.preloader.request(ref);
  }

  /** Models whose preload kept failing (given up for a while): the fleet asks for no preload of them here. */
  preloadRefused(): string[] {
    return this.preloader?.refused() ?? [];
  }

  /** A claim came back empty: the worker is free for a preload until the next job arrives. */
  freed(): void {
    this.preloader?.freed();
  }

  /**
   * While idle: reports (which also hears what the fleet asks to prefetch) and starts fetching the asked
   * files in the background (model-prefetcher.ts). Returns without waiting for the fetch; never throws.
   * `stillFree`: asked once the report is back; false when a job arrived meanwhile (the fetch waits for a later
   * idle turn instead of starting beside the job, which jobArrived could no longer stop).
   */
  async idle(stillFree: () => boolean = () => true): Promise<void> {
    await this.report();
    if (stillFree()) this.prefetcher?.start();
  }

  /**
   * A job was claimed: a background prefetch stops, so the job has the link and disk, and a preload's prompt
   * is interrupted or taken off ComfyUI's queue, so the job does not wait for it (neither is waited for).
   */
  jobArrived(): void {
    void this.prefetcher?.stop();
    void this.preloader?.stop();
  }

  /** The agent stops: resolves once a background prefetch and a preload have let go. */
  async stop(): Promise<void> {
    await Promise.all([this.prefetcher?.stop(), this.preloader?.stop()]);
  }

  /**
   * A preload's prompt began: on a full worker ComfyUI has pushed out the least recent model, so it is no longer
   * reported resident (else a job claimed for it by affinity would be counted a VRAM hit while it loads).
   */
  private preloadStarted(): void {
    const before = this.warm.names().length;
    this.warm.displaced();
    if (this.warm.names().length !== before) void this.report();
  }

  /** A preload's prompt ran: the model is resident, and its load (from the worker's disk) is counted. */
  private async preloaded(ref: ModelRef, seconds: number): Promise<void> {
    if (this.warm.ran([ref])) this.pending.push({ tier: 'disk', seconds });
    await this.report();
  }

  /** Reports the current state, after the report in flight if there is one (see `inFlight`). Never throws. */
  private report(): Promise<void> {
    if (this.inFlight === null) {
      this.inFlight = this.send().finally(() => {
        this.inFlight = null;
      });
      return this.inFlight;
    }
    this.next ??= this.inFlight.then(() => {
      this.next = null;
      return this.report();
    });
    return this.next;
  }

  private async send(): Promise<void> {
    const loads = this.pending;
    this.pending = [];
    try {
      const asked = await this.options.channel.reportModels({
        available: this.available,
        warm: this.warm.names(),
        onDisk: this.onDisk,
        canFetch: this.options.cache != null,
        switches: this.warm.switches,
        loads,
        prefetchFailed: this.prefetcher?.failed() ?? [],
      });
      this.prefetcher?.asked(asked);
      this.reports.succeeded();
    } catch (err) {
      this.pending = [...loads, ...this.pending];
      this.reports.failed(err);
    }
  }
}
