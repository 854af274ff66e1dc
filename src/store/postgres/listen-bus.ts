/**
 * The event bus across replicas: Postgres LISTEN/NOTIFY on one channel. A message is delivered to this
 * process's subscribers at once (a local cancel never waits for a round trip) and to other replicas through
 * NOTIFY (sent on the store's pool); each replica ignores its own echo. The NOTIFY is sent in the background:
 * a publisher (a claim handing its job to the agent, an admission's answer) never waits for that round trip.
 * One statement is in flight at a time, carrying every message published meanwhile (each its own
 * notification, in publish order), so a burst costs one pool connection and a few round trips, not one each.
 * Postgres delivers identical payloads sent in one statement once: harmless while every message is an idempotent
 * wake-up (a message that must arrive once per publish would need a distinct payload).
 * The listener holds a dedicated connection; when it drops (a database outage) it reconnects with backoff and
 * then delivers `resync`, so every subscriber re-reads what it watches: notifications sent while it was away
 * are caught up, not lost.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { z } from 'zod';
import type { BusMessage, EventBus } from '../../events/bus.js';
import { createLocalBus } from '../../events/local-bus.js';
import { Retry, type OutageLog } from '../../util/backoff.js';

export const BUS_CHANNEL = 'arrakis_bus';
/** Most notifications one NOTIFY statement carries (two bound parameters each). */
const NOTIFY_BATCH = 500;
/** Most messages waiting for a NOTIFY statement (the database is slow or down); older ones are dropped. */
export const MAX_PENDING = 10_000;
/** How long close waits for the messages still being sent. */
export const CLOSE_NOTIFY_MS = 2000;

const messageSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('job_event'),
    jobId: z.string(),
    ended: z.boolean().optional(),
    // Any boolean is read (only `true` means something): a `requeued: false` from another release must not
    // make the whole message unreadable and its wake-up lost.
    requeued: z
      .boolean()
      .optional()
      .transform((v) => (v === true ? (true as const) : undefined)),
  }),
  z.object({ kind: z.literal('cancel'), jobId: z.string() }),
  z.object({ kind: z.literal('job_ready'), pool: z.string().nullable() }),
  z.object({ kind: z.literal('webhook_due') }),
]);
const envelopeSchema = z.object({ o: z.string(), m: messageSchema });

export interface ListenBusDeps {
  /** A new, unconnected client for the listener's dedicated connection. */
  newClient(): pg.Client;
  /** Sends one notification per payload, in order, in one statement on the store's pool. */
  notify(channel: string, payloads: readonly string[]): Promise<void>;
  log: OutageLog;
  /** How often the listener checks that its connection is alive (default 5 s); see `connect`. */
  checkMs?: number;
}

/** What a message says to other replicas: a job event's `events` stay local (NOTIFY payloads are small). */
function wireForm(message: BusMessage): BusMessage {
  if (message.kind !== 'job_event' || message.events === undefined) return message;
  return {
    kind: 'job_event',
    jobId: message.jobId,
    ...(message.ended !== undefined && { ended: message.ended }),
    ...(message.requeued && { requeued: true }),
  };
}

/** The message inside a NOTIFY payload, or null when it is not ours or not a message (ignored). */
function parseEnvelope(payload: string | undefined): z.infer<typeof envelopeSchema> | null {
  if (payload === undefined) return null;
  let json: unknown;
  try {
    json = JSON.parse(payload);
  } catch {
    return null;
  }
  const parsed = envelopeSchema.safeParse(json);
  return parsed.success ? parsed.data : null;
}

/** Connects the listener and returns the bus once LISTEN is active. */
export async function createListenBus(deps: ListenBusDeps): Promise<EventBus> {
  const bus = new ListenBus(deps);
  await bus.connect();
  return bus;
}

class ListenBus implements EventBus {
  private readonly origin = randomUUID();
  private readonly local = createLocalBus();
  private readonly listening: Retry;
  private readonly notifying: Retry;
  private closed = false;
  private listener: pg.Client | null = null;
  private check: NodeJS.Timeout | null = null;
  private retry: NodeJS.Timeout | null = null;
  /** Payloads published while a NOTIFY statement is in flight: the next statement sends them. */
  private pending: string[] = [];
  /** The NOTIFY statements under way (one at a time), or null when none is. */
  private sending: Promise<void> | null = null;

  constructor(private readonly deps: ListenBusDeps) {
    this.listening = new Retry('event bus listener', deps.log, { minMs: 100, maxMs: 5000 });
    this.notifying = new Retry('event bus notify', deps.log);
  }

  async publish(message: BusMessage): Promise<void> {
    if (this.closed) return;
    await this.local.publish(message);
    if (message.kind === 'resync') return;
    this.pending.push(JSON.stringify({ o: this.origin, m: wireForm(message) }));
    // A database that does not answer must not grow the backlog without end: the oldest go (best effort).
    if (this.pending.length > MAX_PENDING) this.pending.splice(0, this.pending.length - MAX_PENDING);
    this.sending ??= this.send();
  }

  /**
   * Sends what is pending, one statement at a time, until nothing is. Best effort: other replicas also poll the
   * store, and resync after their own outage; a failed statement's messages are not sent again.
   */
  private async send(): Promise<void> {
    // Messages published in the same synchronous run as this one go in its statement.
    await Promise.resolve();
    try {
      while (this.pending.length > 0) {
        const payloads = this.pending.splice(0, NOTIFY_BATCH);
        try {
          await this.deps.notify(BUS_CHANNEL, payloads);
          this.notifying.succeeded();
        } catch (err) {
          if (!this.closed) this.notifying.failed(err);
        }
      }
    } finally {
      this.sending = null;
    }
  }

  subscribe(handler: (message: BusMessage) => void): () => void {
    return this.local.subscribe(handler);
  }

  async close(): Promise<void> {
    this.closed = true;
    // What was published before close still reaches the other replicas (the store's pool closes after this),
    // unless the database does not answer: close waits for that no longer than CLOSE_NOTIFY_MS.
    if (this.sending !== null) {
      let timer: NodeJS.Timeout | undefined;
      const gaveUp = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_NOTIFY_MS)));
      await Promise.race([this.sending, gaveUp]);
      clearTimeout(timer);
      // Given up: what still waits behind the unanswered statement is dropped, not sent later through a pool
      // that is closing (each would fail, or hold the pool's end).
      this.pending.length = 0;
    }
    if (this.retry !== null) clearTimeout(this.retry);
    if (this.check !== null) clearInterval(this.check);
    const l = this.listener;
    this.listener = null;
    await this.local.close();
    await l?.end().catch(() => {});
  }

  /** Opens the dedicated connection and LISTENs; rejects when the database cannot be reached. */
  async connect(): Promise<void> {
    const client = this.deps.newClient();
    client.on('notification', (n) => this.receive(n.payload));
    client.on('error', (err) => this.lose(client, err));
    client.on('end', () => this.lose(client, new Error('the listener connection ended')));
    try {
      await client.connect();
      await client.query(`LISTEN ${BUS_CHANNEL}`);
    } catch (err) {
      await client.end().catch(() => {});
      throw err;
    }
    if (this.closed) {
      await client.end().catch(() => {});
      return;
    }
    this.listener = client;
    // A half-open connection (a failover that sent no reset) reports no error and delivers nothing, for as
    // long as TCP keepalive takes (hours by default): a cheap query notices it, so we reconnect and resync.
    this.check = setInterval(
      () => void client.query('SELECT 1').catch((err: unknown) => this.lose(client, err)),
      this.deps.checkMs ?? 5000,
    );
    this.check.unref();
  }

  private receive(payload: string | undefined): void {
    const envelope = parseEnvelope(payload);
    if (envelope !== null && envelope.o !== this.origin) void this.local.publish(envelope.m);
  }

  private lose(client: pg.Client, err: unknown): void {
    if (this.listener !== client || this.closed) return;
    this.listener = null;
    if (this.check !== null) clearInterval(this.check);
    void client.end().catch(() => {});
    this.schedule(this.listening.failed(err));
  }

  private schedule(delay: number): void {
    if (this.closed || this.retry !== null) return;
    this.retry = setTimeout(() => {
      this.retry = null;
      this.connect().then(
        () => {
          if (this.closed) return;
          this.listening.succeeded();
          // Anything published while we were not listening is only in the store now.
          void this.local.publish({ kind: 'resync' });
        },
        (err: unknown) => this.schedule(this.listening.failed(err)),
      );
    }, delay);
  }
}
