/**
 * The one retry style of every background loop: capped exponential backoff with jitter, and a log line when
 * trouble starts and one when it ends — never one per failed attempt. A database outage of a minute then
 * costs each loop two log lines and a handful of cheap retries, and every loop resumes on its own.
 */

/** The little a loop needs from a logger (pino fits). */
export interface OutageLog {
  warn(details: Record<string, unknown>, message: string): void;
  info?(details: Record<string, unknown>, message: string): void;
}

/** An OutageLog that drops everything (a caller that was given none). */
export const SILENT_OUTAGE_LOG: OutageLog = Object.freeze({ warn: () => {} });

export interface BackoffOptions {
  /** First delay after a failure. */
  minMs: number;
  /** No delay is longer than this. */
  maxMs: number;
  /** Each further failure multiplies the delay by this (default 2). */
  factor?: number;
  /** Each delay is drawn from [d·(1−jitter), d] so replicas do not retry in lockstep (default 0.25). */
  jitter?: number;
  random?: () => number;
}

/** Delays for consecutive failures: min, min·f, min·f², … capped at max, each with some jitter. */
export class Backoff {
  private failures = 0;

  constructor(private readonly o: BackoffOptions) {}

  /** Failures since the last reset. */
  get attempts(): number {
    return this.failures;
  }

  /** The delay before the next try, counting one more failure. */
  next(): number {
    const base = Math.min(this.o.maxMs, this.o.minMs * (this.o.factor ?? 2) ** this.failures);
    this.failures++;
    const jitter = this.o.jitter ?? 0.25;
    return Math.max(0, Math.round(base * (1 - jitter * (this.o.random ?? Math.random)())));
  }

  reset(): void {
    this.failures = 0;
  }
}

/** Message text of an error without its stack (connection errors from pg carry a code worth keeping). */
export function describeError(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return describeError(err.errors[0]);
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

/**
 * Backoff plus outage reporting for one named duty (`what`): `failed` logs only the first failure of an
 * outage and returns the delay before the next try; `succeeded` logs the recovery (if there was trouble) and
 * resets the delay.
 */
export class Retry {
  private readonly backoff: Backoff;
  private since: number | null = null;

  constructor(
    private readonly what: string,
    private readonly log: OutageLog,
    options: BackoffOptions = { minMs: 500, maxMs: 10_000 },
  ) {
    this.backoff = new Backoff(options);
  }

  /** True between a failure and the next success. */
  get failing(): boolean {
    return this.since !== null;
  }

  /** Records a failure; returns how long to wait before trying again. */
  failed(err: unknown, details: Record<string, unknown> = {}): number {
    if (this.since === null) {
      this.since = Date.now();
      this.log.warn(
        { ...details, err: describeError(err) },
        `${this.what} failed; retrying with backoff (logged once until it recovers)`,
      );
    }
    return this.backoff.next();
  }

  /** Records a success; logs the end of an outage. */
  succeeded(): void {
    if (this.since === null) return;
    const attempts = this.backoff.attempts;
    const downMs = Date.now() - this.since;
    this.since = null;
    this.backoff.reset();
    (this.log.info ?? this.log.warn).call(this.log, { attempts, downMs }, `${this.what} recovered`);
  }
}

/** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted === true) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
