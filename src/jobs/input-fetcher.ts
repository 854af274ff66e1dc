/**
 * Fetches the URL inputs of admitted jobs into object storage, then makes the jobs claimable.
 * A job whose URL is blocked fails `input_fetch_blocked`; one that cannot be fetched (status, size, time,
 * type) fails `input_fetch_failed`; one whose bytes do not decode fails `input_invalid`. Storage or database
 * trouble fails nothing: the fetch lease runs out and the job is tried again.
 */
import type { JobErrorCode } from '../errors.js';
import type { Job, JobError, JobInput } from './types.js';
import type { EventBus } from '../events/bus.js';
import type { Store } from '../store/contract.js';
import { inputsFailed, inputsReady } from './lifecycle/background-verbs.js';
import type { LifecycleDeps } from './lifecycle/lifecycle-deps.js';
import { Backoff } from '../util/backoff.js';
import { newId } from '../util/ids.js';
import { FetchError } from '../media/fetch-error.js';
import { DEFAULT_MAX_INPUT_BYTES, inspectImage, storeInput } from '../media/inputs.js';
import type { Resolver } from '../media/resolve-target.js';
import { DEFAULT_TIMEOUTS, safeFetch, type FetchTimeouts } from '../media/safe-fetch.js';
import type { ObjectStorage } from '../media/storage/contract.js';
import { parseFetchAllow, type FetchAllowlist } from '../media/url-policy.js';

export interface InputFetcherOptions {
  store: Pick<Store, 'claimInputFetches' | 'markInputsReady' | 'failQueuedJob'>;
  storage: ObjectStorage;
  /** Where a job made claimable or failed is announced (absent: nowhere, e.g. a test without workers). */
  bus?: Pick<EventBus, 'publish'>;
  /** `--fetch-allow` entries. */
  allow?: readonly string[];
  /** Lease owner name (unique per process); generated when omitted. */
  owner?: string;
  /** Jobs claimed (and fetched concurrently) per round. */
  batchSize?: number;
  /** How long a claimed job stays ours; after that another fetcher may retry it. */
  leaseMs?: number;
  /** Pause between polls when no job is waiting (and after an error). */
  idleMs?: number;
  maxBytes?: number;
  maxPixels?: number;
  timeouts?: Partial<FetchTimeouts>;
  resolve?: Resolver;
  now?: () => number;
  /**
   * Reports trouble that fails no job (storage, database); the loop carries on. A failing claim is reported
   * once per outage (jobId null), then `onRecovered` when claims work again.
   */
  onError?: (err: unknown, jobId: string | null) => void;
  onRecovered?: () => void;
  /** Called once a job's inputs are stored and it became claimable, before its workers are woken (log). */
  onReady?: (job: Job) => void;
  /** Called with the failed job once it failed for its inputs, before it is announced (log, metrics). */
  onFailed?: (job: Job) => void;
}

type Outcome = { kind: 'ok'; input: JobInput } | { kind: 'failed'; error: JobError };

const NOWHERE: Pick<EventBus, 'publish'> = { publish: async () => {} };

function failed(code: JobErrorCode, name: string, why: string): Outcome {
  return { kind: 'failed', error: { code, message: `input "${name}": ${why}` } };
}

export class InputFetcher {
  private readonly opts: InputFetcherOptions;
  private readonly allow: FetchAllowlist;
  private readonly owner: string;
  private readonly now: () => number;
  /** The lifecycle verbs this fetcher performs: inputs ready, inputs failed. */
  private readonly lifecycle: LifecycleDeps<'markInputsReady' | 'failQueuedJob'>;
  private loop: Promise<void> | null = null;
  private aborter = new AbortController();
  private wakeSleeper: (() => void) | null = null;
  /** A wake that came while a claim was in flight: the loop looks again instead of pausing. */
  private wokenDuringClaim = false;

  constructor(opts: InputFetcherOptions) {
    this.opts = opts;
    this.allow = parseFetchAllow(opts.allow ?? []);
    this.owner = opts.owner ?? newId('fetcher');
    this.now = opts.now ?? Date.now;
    this.lifecycle = {
      store: opts.store,
      bus: opts.bus ?? NOWHERE,
      now: this.now,
      observer: { inputsReady: (job) => opts.onReady?.(job), ended: (job) => opts.onFailed?.(job) },
    };
  }

  /** Starts polling in the background (idempotent). */
  start(): void {
    if (this.loop !== null) return;
    this.aborter = new AbortController();
    this.loop = this.run(this.aborter.signal);
  }

  /** Stops polling, aborts fetches in flight (their jobs are left for a later retry) and waits for the loop. */
  async stop(): Promise<void> {
    this.aborter.abort();
    this.wake();
    await this.loop;
    this.loop = null;
  }

  /** Ends the idle pause early, e.g. right after a job with URL inputs was admitted. */
  wake(): void {
    if (this.wakeSleeper !== null) this.wakeSleeper();
    else this.wokenDuringClaim = true;
  }

  /** Claims one batch and processes it; returns how many jobs were claimed. */
  async runOnce(signal: AbortSignal = this.aborter.signal): Promise<number> {
    const leaseMs = this.opts.leaseMs ?? 2 * (this.opts.timeouts?.totalMs ?? DEFAULT_TIMEOUTS.totalMs);
    const jobs = await this.opts.store.claimInputFetches(
      this.owner,
      this.opts.batchSize ?? 4,
      leaseMs,
      this.now(),
    );
    await Promise.all(
      jobs.map((job) => this.processJob(job, signal).catch((err: unknown) => this.report(err, job.id))),
    );
    return jobs.length;
  }

  /** Never rejects: a claim that fails (the database unreachable) is reported once and retried with backoff. */
  private async run(signal: AbortSignal): Promise<void> {
    const claims = new Backoff({ minMs: this.opts.idleMs ?? 250, maxMs: 10_000 });
    while (!signal.aborted) {
      let claimed = 0;
      let pauseMs = this.opts.idleMs ?? 250;
      // A job admitted while this claim runs may have committed after the claim read: its wake must not be lost.
      this.wokenDuringClaim = false;
      try {
        claimed = await this.runOnce(signal);
        if (claims.attempts > 0) this.opts.onRecovered?.();
        claims.reset();
      } catch (err) {
        if (claims.attempts === 0) this.report(err, null);
        pauseMs = claims.next();
      }
      if (claimed === 0 && !signal.aborted && !this.wokenDuringClaim) await this.sleep(pauseMs);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wakeSleeper = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeSleeper = done;
    });
  }

  private report(err: unknown, jobId: string | null): void {
    this.opts.onError?.(err, jobId);
  }

  private async processJob(job: Job, signal: AbortSignal): Promise<void> {
    const inputs: JobInput[] = [];
    for (const input of job.inputs) {
      if (input.url === undefined || input.objectKey !== undefined) {
        inputs.push(input);
        continue;
      }
      const outcome = await this.fetchOne(job.id, input, input.url, signal);
      // Shutting down is not the input's fault: leave the job for the next fetcher.
      if (signal.aborted) return;
      if (outcome.kind === 'failed') {
        await inputsFailed(this.lifecycle, job.id, outcome.error);
        return;
      }
      inputs.push(outcome.input);
    }
    await inputsReady(this.lifecycle, job, inputs);
  }

  private async fetchOne(jobId: string, input: JobInput, url: string, signal: AbortSignal): Promise<Outcome> {
    let body: Buffer;
    try {
      const res = await safeFetch(url, {
        allow: this.allow,
        expect: 'image',
        maxBytes: this.opts.maxBytes ?? DEFAULT_MAX_INPUT_BYTES,
        timeouts: this.opts.timeouts ?? {},
        signal,
        ...(this.opts.resolve !== undefined ? { resolve: this.opts.resolve } : {}),
      });
      body = res.body;
    } catch (err) {
      if (err instanceof FetchError && err.code === 'url_blocked') {
        return failed('input_fetch_blocked', input.name, err.message);
      }
      const why = err instanceof FetchError ? `${err.code}: ${err.message}` : String(err);
      return failed('input_fetch_failed', input.name, why);
    }
    const check = await inspectImage(body, this.opts.maxPixels);
    if (!check.ok) return failed('input_invalid', input.name, check.reason);
    const stored = await storeInput(this.opts.storage, jobId, input.name, body, check.info);
    return { kind: 'ok', input: { ...input, ...stored } };
  }
}
