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
import { PREFETCH_REFUSED_MS } from '../workers/job-channel.js';
import { describeError, pause, Retry, type BackoffOptions } from '../util/backoff.js';
import type { AgentLog } from './agent-log.js';

export interface PrefetchRetryOptions {
  /** Tries of one file before it is given up (each try is one download). */
  tries: number;
  /** The gaps between tries of one file. */
  backoff: BackoffOptions;
  /** How long a given-up file stays refused (reported failed) before an ask for it is tried again. */
  giveUpMs: number;
}

/** 5 tries over ~2.5 minutes (gaps of 10, 20, 40, 80 s), then refused for 30 minutes. */
export const DEFAULT_PREFETCH_RETRY: Readonly<PrefetchRetryOptions> = Object.freeze({
  tries: 5,
  backoff: { minMs: 10_000, maxMs: 5 * 60_000 },
  giveUpMs: PREFETCH_REFUSED_MS,
});

export interface PrefetcherOptions {
  cache: ModelCache;
  lookup: (name: string) => Promise<ModelFile | null>;
  log: AgentLog;
  retry?: PrefetchRetryOptions;
  /** Called after a background run that fetched files (the keeper re-reads its models and reports). */
  onFetched: () => Promise<void>;
}

/** One file's trouble: its tries so far and when it may be tried next, or when it was given up. */
interface Trouble {
  retry: Retry;
  tries: number;
  nextAt: number;
  gaveUpAt: number | null;
}

export class ModelPrefetcher {
  private asks: ModelRef[] = [];
  private readonly troubles = new Map<string, Trouble>();
  private running: { stop: AbortController; done: Promise<void> } | null = null;

  constructor(private readonly o: PrefetcherOptions) {}

  private get retry(): PrefetchRetryOptions {
    return this.o.retry ?? DEFAULT_PREFETCH_RETRY;
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
    const out: string[] = [];
    for (const [name, t] of this.troubles) {
      if (t.gaveUpAt === null) continue;
      if (now - t.gaveUpAt >= this.retry.giveUpMs) this.troubles.delete(name);
      else out.push(name);
    }
    return out;
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
    return this.asks.filter((r) => (this.troubles.get(r.name)?.gaveUpAt ?? null) === null);
  }

  /** Fetches each open file when its backoff allows, until none is left open or it is stopped. */
  private async run(signal: AbortSignal): Promise<void> {
    let fetched = false;
    while (!signal.aborted) {
      const open = this.open();
      if (open.length === 0) break;
      const now = Date.now();
      const due = open.find((r) => (this.troubles.get(r.name)?.nextAt ?? 0) <= now);
      if (due === undefined) {
        const next = Math.min(...open.map((r) => this.troubles.get(r.name)?.nextAt ?? now));
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
      this.troubles.get(ref.name)?.retry.succeeded();
      this.troubles.delete(ref.name);
      if (result.fetched.length === 0) return false;
      this.o.log.info({ files: result.fetched, seconds: result.fetchSeconds }, 'model files prefetched');
      return true;
    } catch (err) {
      if (!signal.aborted) this.failedTry(ref.name, err);
      return false;
    }
  }

  private failedTry(name: string, err: unknown): void {
    const { tries, backoff } = this.retry;
    const t = this.troubles.get(name) ?? {
      retry: new Retry(`prefetching model file ${JSON.stringify(name)}`, this.o.log, backoff),
      tries: 0,
      nextAt: 0,
      gaveUpAt: null,
    };
    this.troubles.set(name, t);
    t.tries++;
    // Errors of the model cache name the source without user info or query (source-errors.ts).
    const delay = t.retry.failed(err, { file: name });
    if (t.tries < tries) {
      t.nextAt = Date.now() + delay;
      return;
    }
    t.gaveUpAt = Date.now();
    this.o.log.warn(
      { file: name, tries: t.tries, err: describeError(err), refusedMs: this.retry.giveUpMs },
      'gave up prefetching a model file; its ask is reported failed so the fleet drops it',
    );
  }
}
