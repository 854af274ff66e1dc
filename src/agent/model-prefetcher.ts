/**
 * The fleet's prefetch asks, fetched onto the worker's disk in the background. A prefetch is idle-time work:
 * it never sits between the claim loop and a job (the agent stops it when a job arrives, and it resumes at
 * the next idle turn without counting as a failure). A file that fails is tried again after a growing gap
 * (util/backoff), with one warning when it starts failing and one when it is given up; a given-up file is
 * reported as failed for `giveUpMs`, so the control plane drops the ask (the fleet's plan then no longer
 * sees the worker fetching it) and a repeated ask in that time costs no download.
 */
import type { ModelCache } from '../models/model-cache.js';
import type { ModelRef } from '../models/model-refs.js';
import type { ModelFile } from '../store/contract.js';
import { describeError, pause } from '../util/backoff.js';
import { DEFAULT_PREFETCH_RETRY, RetryLedger, type PrefetchRetryOptions } from './retry-ledger.js';
import type { AgentLog } from './agent-log.js';

export { DEFAULT_PREFETCH_RETRY, type PrefetchRetryOptions } from './retry-ledger.js';

export interface PrefetcherOptions {
  cache: ModelCache;
  lookup: (name: string) => Promise<ModelFile | null>;
  log: AgentLog;
  retry?: PrefetchRetryOptions;
  /** Called after a background run that fetched files (the keeper re-reads its models and reports). */
  onFetched: () => Promise<void>;
}

export class ModelPrefetcher {
  private asks: ModelRef[] = [];
  private readonly troubles: RetryLedger;
  private running: { stop: AbortController; done: Promise<void> } | null = null;

  constructor(private readonly o: PrefetcherOptions) {
    this.troubles = new RetryLedger({
      doing: 'prefetching',
      gaveUpMessage: 'gave up prefetching a model file; its ask is reported failed so the fleet drops it',
      log: o.log,
      retry: o.retry ?? DEFAULT_PREFETCH_RETRY,
    });
  }

  /** The files the control plane asks for, as its latest answer to a model report says. */
  asked(refs: readonly ModelRef[]): void {
    this.asks = [...refs];
  }

  /** Asked files not given up: there is background work to do (or to wait for). */
  get wanted(): boolean {
    return this.open().length > 0;
  }

  /** The files given up and still refused: reported so the control plane drops their ask. */
  failed(now = Date.now()): string[] {
    return this.troubles.refused(now);
  }

  /** Starts fetching the asked files in the background, unless that runs already. Never throws. */
  start(): void {
    if (this.running !== null || !this.wanted) return;
    const stop = new AbortController();
    const done = this.run(stop.signal)
      .catch((err: unknown) => this.o.log.warn({ err: describeError(err) }, 'model prefetch stopped'))
      .finally(() => {
        if (this.running?.stop === stop) this.running = null;
      });
    this.running = { stop, done };
  }

  /**
   * Stops the background fetch (a job arrived, or the agent stops); resolves once it has let go. The file it
   * was fetching is tried again at a later idle turn; the stop does not count as a failed try.
   */
  stop(): Promise<void> {
    const running = this.running;
    this.running = null;
    running?.stop.abort();
    return running?.done ?? Promise.resolve();
  }

  private open(): ModelRef[] {
    return this.asks.filter((r) => !this.troubles.givenUp(r.name));
  }

  /** Fetches each open file when its backoff allows, until none is left open or it is stopped. */
  private async run(signal: AbortSignal): Promise<void> {
    let fetched = false;
    while (!signal.aborted) {
      const open = this.open();
      if (open.length === 0) break;
      const now = Date.now();
      const due = open.find((r) => this.troubles.nextAt(r.name) <= now);
      if (due === undefined) {
        const next = Math.min(...open.map((r) => this.troubles.nextAt(r.name) || now));
        await pause(next - now, signal);
        continue;
      }
      if (await this.fetchOne(due, signal)) fetched = true;
    }
    if (fetched) await this.o.onFetched();
  }

  /** One try of one file (a single download: the gaps between tries are the backoff's); true when fetched. */
  private async fetchOne(ref: ModelRef, signal: AbortSignal): Promise<boolean> {
    try {
      const result = await this.o.cache.ensure([ref], this.o.lookup, { attempts: 1, signal });
      // Done here, whatever the control plane's ask says until the next report tells it the file arrived.
      this.asks = this.asks.filter((r) => r.name !== ref.name);
      this.troubles.succeeded(ref.name);
      if (result.fetched.length === 0) return false;
      this.o.log.info({ files: result.fetched, seconds: result.fetchSeconds }, 'model files prefetched');
      return true;
    } catch (err) {
      if (!signal.aborted) this.troubles.failed(ref.name, err);
      return false;
    }
  }
}
