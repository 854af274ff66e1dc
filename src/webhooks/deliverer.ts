/**
 * The durable webhook delivery loop. Delivery rows are enqueued by the store inside each job's terminal
 * transition; this loop leases the due ones, attempts each (signed, through the SSRF guard), and records
 * every attempt. Leases make it safe to run in every replica and to be killed at any point: an unrecorded
 * attempt is retried by whoever claims the row after its lease runs out, with the same `webhook-id`.
 * A hostile receiver costs at most one slot for one timeout: concurrency is bounded, bodies are discarded,
 * and no promise escapes uncaught.
 */
import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import type { Account } from '../jobs/types.js';
import type { Store, WebhookAttempt, WebhookDelivery } from '../store/contract.js';
import { attemptDelivery, describeError, type AttemptOutcome, type WebhookFetch } from './attempt.js';
import { nextRetryDelay, parseRetryAfter, type RetrySchedule } from './retry-schedule.js';
import { safeWebhookFetch } from './safe-webhook-fetch.js';
import { Retry } from '../util/backoff.js';

export type WebhookStore = Pick<
  Store,
  'claimDueWebhooks' | 'recordWebhookAttempt' | 'disableWebhookEndpoint' | 'isWebhookEndpointDisabled'
>;

/** Where the deliverer reports trouble it survives (pino's logger fits). */
export interface WebhookLog {
  warn(details: Record<string, unknown>, message: string): void;
}

export interface WebhookDelivererOptions {
  store: WebhookStore;
  getAccount: (id: string) => Promise<Account | null>;
  /** `--fetch-allow` HOST:PORT entries that webhook URLs may reach although private or loopback. */
  allow: string[];
  schedule: RetrySchedule;
  /** Per-attempt timeout (connect + answer). */
  timeoutMs?: number;
  /** At most this many attempts in flight at once. */
  concurrency?: number;
  /** How often to look for due deliveries when nobody calls kick(). */
  pollMs?: number;
  /** How long a claimed delivery stays ours; must outlast one attempt. */
  leaseMs?: number;
  now?: () => number;
  /** The transport; defaults to the SSRF-guarded fetch with redirects refused. */
  fetch?: WebhookFetch;
  random?: () => number;
  log?: WebhookLog;
  /** Called after each attempt is recorded (metrics, tests). Must not throw. */
  onAttempt?: (event: AttemptEvent) => void;
}

/** One recorded attempt and where it left the delivery. */
export interface AttemptEvent {
  delivery: WebhookDelivery;
  attempt: WebhookAttempt;
  status: 'pending' | 'delivered' | 'failed' | 'disabled';
}

/** No request was made: the endpoint was disabled by an earlier 410, or the account no longer exists. */
type SkipOutcome = { kind: 'skip'; final: 'disabled' | 'failed'; error: string };

/**
 * Wake-ups come in bursts (every job event and every finished attempt wakes the loop), so claims are
 * spaced at least this far apart: one claim then picks up everything the burst made due.
 */
const MIN_CLAIM_GAP_MS = 10;

const consoleLog: WebhookLog = {
  warn: (details, message) => console.warn(`webhooks: ${message}`, details),
};

/** Delivers pending webhooks until stopped; call kick() after a terminal transition for immediate delivery. */
export class WebhookDeliverer {
  private readonly store: WebhookStore;
  private readonly getAccount: (id: string) => Promise<Account | null>;
  private readonly schedule: RetrySchedule;
  private readonly timeoutMs: number;
  private readonly concurrency: number;
  private readonly pollMs: number;
  private readonly leaseMs: number;
  private readonly now: () => number;
  private readonly fetch: WebhookFetch;
  private readonly random: () => number;
  private readonly log: WebhookLog;
  private readonly onAttempt: (event: AttemptEvent) => void;
  private readonly owner = `webhooks_${randomBytes(6).toString('hex')}`;
  private readonly inFlight = new Set<Promise<void>>();
  private abort = new AbortController();
  private loop: Promise<void> | null = null;
  private kicked = false;
  private wake: (() => void) | null = null;
  private lastClaimAt = 0;
  private readonly claims: Retry;

  constructor(options: WebhookDelivererOptions) {
    this.store = options.store;
    this.getAccount = options.getAccount;
    this.schedule = options.schedule;
    this.timeoutMs = options.timeoutMs ?? 15_000;
    this.concurrency = Math.max(1, options.concurrency ?? 8);
    this.pollMs = options.pollMs ?? 1000;
    this.leaseMs = options.leaseMs ?? this.timeoutMs + 30_000;
    this.now = options.now ?? Date.now;
    this.fetch = options.fetch ?? safeWebhookFetch(options.allow);
    this.random = options.random ?? Math.random;
    this.log = options.log ?? consoleLog;
    this.onAttempt = options.onAttempt ?? (() => {});
    this.claims = new Retry('claiming due webhooks', this.log, {
      minMs: this.pollMs,
      maxMs: Math.max(this.pollMs, 10_000),
    });
  }

  /** Starts the loop (idempotent). */
  start(): void {
    if (this.loop !== null) return;
    this.abort = new AbortController();
    // Every attempt in flight listens on the stop signal (a few listeners each): not a leak.
    setMaxListeners(10 + this.concurrency * 4, this.abort.signal);
    this.loop = this.run().catch((error: unknown) => {
      this.log.warn({ error: describeError(error) }, 'delivery loop ended unexpectedly');
    });
  }

  /** Looks for due deliveries now instead of at the next poll. */
  kick(): void {
    this.wakeUp();
  }

  /** Resolves pending sleep on the loop; the flag covers a wake-up that arrives while it is claiming. */
  private wakeUp = (): void => {
    this.kicked = true;
    this.wake?.();
  };

  /** Stops claiming, aborts attempts in flight (recorded as failed, retried later) and resolves once idle. */
  async stop(): Promise<void> {
    const loop = this.loop;
    if (loop === null) return;
    this.abort.abort();
    this.wakeUp();
    await loop;
    await Promise.allSettled([...this.inFlight]);
    this.loop = null;
  }

  private get stopping(): boolean {
    return this.abort.signal.aborted;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      await this.pace();
      if (this.stopping) break;
      const free = this.concurrency - this.inFlight.size;
      let claimed = 0;
      let retryInMs: number | null = null;
      if (free > 0) {
        try {
          claimed = this.startAll(
            await this.store.claimDueWebhooks(this.owner, free, this.leaseMs, this.now()),
          );
          this.claims.succeeded();
        } catch (error) {
          // The database is unreachable: one warning per outage, claims spaced out until it answers.
          retryInMs = this.claims.failed(error);
          this.kicked = false;
        }
      }
      // A full batch means more may be due: claim again at once (if a slot is free).
      if (retryInMs === null && free > 0 && claimed === free && this.inFlight.size < this.concurrency)
        continue;
      await this.sleep(retryInMs ?? this.pollMs);
    }
  }

  /** Waits out the rest of MIN_CLAIM_GAP_MS since the last claim (only stop() cuts it short). */
  private async pace(): Promise<void> {
    const wait = this.lastClaimAt + MIN_CLAIM_GAP_MS - performance.now();
    if (wait > 0) await delay(wait, undefined, { signal: this.abort.signal }).catch(() => {});
    this.lastClaimAt = performance.now();
  }

  private startAll(deliveries: WebhookDelivery[]): number {
    for (const delivery of deliveries) {
      if (this.stopping) break;
      const task: Promise<void> = this.deliver(delivery)
        .catch((error: unknown) => {
          // The lease runs out and another claim retries it; nothing here may take the loop down.
          this.log.warn(
            { deliveryId: delivery.id, error: describeError(error) },
            'delivery bookkeeping failed',
          );
        })
        .finally(() => {
          this.inFlight.delete(task);
          this.wakeUp();
        });
      this.inFlight.add(task);
    }
    return deliveries.length;
  }

  /** Waits for kick(), stop(), a finished attempt or the poll interval, whichever comes first. */
  private async sleep(ms: number): Promise<void> {
    if (this.kicked || this.stopping) {
      this.kicked = false;
      return;
    }
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
    this.kicked = false;
  }

  private async deliver(delivery: WebhookDelivery): Promise<void> {
    const startedAt = this.now();
    const outcome = await this.attempt(delivery, startedAt);
    const at = this.now();
    const attempt: WebhookAttempt = {
      deliveryId: delivery.id,
      attempt: delivery.attempts + 1,
      at,
      statusCode: outcome.kind === 'skip' ? null : outcome.statusCode,
      error: outcome.kind === 'retry' || outcome.kind === 'skip' ? outcome.error : null,
      durationMs: Math.max(0, at - startedAt),
    };
    const next = this.nextStep(outcome, attempt);
    await this.store.recordWebhookAttempt(attempt, next);
    // After a 410 every pending and future delivery of this account to this URL ends `disabled`.
    if (outcome.kind === 'gone')
      await this.store.disableWebhookEndpoint(delivery.accountId, delivery.url, at);
    this.onAttempt({ delivery, attempt, status: next.status });
  }

  private nextStep(
    outcome: AttemptOutcome | SkipOutcome,
    attempt: WebhookAttempt,
  ): Parameters<WebhookStore['recordWebhookAttempt']>[1] {
    switch (outcome.kind) {
      case 'delivered':
        return { status: 'delivered' };
      case 'gone':
        return { status: 'disabled' };
      case 'skip':
        return { status: outcome.final };
      case 'retry': {
        const retryAfterMs = parseRetryAfter(outcome.retryAfter, attempt.at);
        const delay = nextRetryDelay(this.schedule, attempt.attempt, retryAfterMs, this.random);
        return delay === null
          ? { status: 'failed' }
          : { status: 'pending', nextAttemptAt: attempt.at + delay };
      }
    }
  }

  /** Runs one attempt, or explains why none is made (endpoint disabled after a 410, account gone). */
  private async attempt(delivery: WebhookDelivery, now: number): Promise<AttemptOutcome | SkipOutcome> {
    if (await this.store.isWebhookEndpointDisabled(delivery.accountId, delivery.url)) {
      return {
        kind: 'skip',
        final: 'disabled',
        error: 'endpoint_disabled: the receiver answered 410 Gone earlier',
      };
    }
    const account = await this.getAccount(delivery.accountId);
    if (account === null)
      return { kind: 'skip', final: 'failed', error: 'account_not_found: the account was deleted' };
    return attemptDelivery({
      delivery,
      account,
      fetch: this.fetch,
      timeoutMs: this.timeoutMs,
      signal: this.abort.signal,
      now,
    });
  }
}
