/**
 * The failures of an agent's idle-time model work (prefetches, preloads), per file: a failing file is tried
 * again after a growing gap (util/backoff), with one warning when it starts failing and one when it is given
 * up; a given-up file stays refused for `giveUpMs` (reported, so the fleet's plan asks for something else).
 */
import { PREFETCH_REFUSED_MS } from '../workers/job-channel.js';
import { describeError, Retry, type BackoffOptions } from '../util/backoff.js';
import type { AgentLog } from './agent-log.js';

export interface PrefetchRetryOptions {
  /** Tries of one file before it is given up. */
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

/** One file's trouble: its tries so far and when it may be tried next, or when it was given up. */
interface Trouble {
  retry: Retry;
  tries: number;
  nextAt: number;
  gaveUpAt: number | null;
}

export interface RetryLedgerOptions {
  /** What is tried, for the logs: "prefetching", "preloading". */
  doing: string;
  /** The warning's message when a file is given up. */
  gaveUpMessage: string;
  log: AgentLog;
  retry: PrefetchRetryOptions;
}

export class RetryLedger {
  private readonly troubles = new Map<string, Trouble>();

  constructor(private readonly o: RetryLedgerOptions) {}

  /** True once `name` was given up (until `refused` forgets it). */
  givenUp(name: string): boolean {
    return (this.troubles.get(name)?.gaveUpAt ?? null) !== null;
  }

  /** When `name` may be tried again (0: now, it has not failed). */
  nextAt(name: string): number {
    return this.troubles.get(name)?.nextAt ?? 0;
  }

  /** `name` worked: its trouble is forgotten (and a recovery logged if it had failed). */
  succeeded(name: string): void {
    this.troubles.get(name)?.retry.succeeded();
    this.troubles.delete(name);
  }

  /** One failed try of `name`: its next try waits the backoff's gap, or it is given up after the last try. */
  failed(name: string, err: unknown): void {
    const { tries, backoff, giveUpMs } = this.o.retry;
    const t = this.troubles.get(name) ?? {
      retry: new Retry(`${this.o.doing} model file ${JSON.stringify(name)}`, this.o.log, backoff),
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
      { file: name, tries: t.tries, err: describeError(err), refusedMs: giveUpMs },
      this.o.gaveUpMessage,
    );
  }

  /** The files given up and still refused; those refused for `giveUpMs` are forgotten (tried again when asked). */
  refused(now = Date.now()): string[] {
    const out: string[] = [];
    for (const [name, t] of this.troubles) {
      if (t.gaveUpAt === null) continue;
      if (now - t.gaveUpAt >= this.o.retry.giveUpMs) this.troubles.delete(name);
      else out.push(name);
    }
    return out;
  }
}
