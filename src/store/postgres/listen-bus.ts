/**
 * The event bus across replicas: Postgres LISTEN/NOTIFY on one channel. A message is delivered to this
 * process's subscribers at once (a local cancel never waits for a round trip) and to other replicas through
 * NOTIFY (sent on the store's pool); each replica ignores its own echo. The listener holds a dedicated
 * connection; when it drops (a database outage) it reconnects with backoff and then delivers `resync`, so
 * every subscriber re-reads what it watches: notifications sent while it was away are caught up, not lost.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { z } from 'zod';
import type { BusMessage, EventBus } from '../../events/bus.js';
import { createLocalBus } from '../../events/local-bus.js';
import { Retry, type OutageLog } from '../../util/backoff.js';

export const BUS_CHANNEL = 'arrakis_bus';

const messageSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('job_event'), jobId: z.string() }),
  z.object({ kind: z.literal('cancel'), jobId: z.string() }),
  z.object({ kind: z.literal('job_ready'), pool: z.string().nullable() }),
]);
const envelopeSchema = z.object({ o: z.string(), m: messageSchema });

export interface ListenBusDeps {
  /** A new, unconnected client for the listener's dedicated connection. */
  newClient(): pg.Client;
  /** Sends one NOTIFY on the store's pool. */
  notify(channel: string, payload: string): Promise<void>;
  log: OutageLog;
  /** How often the listener checks that its connection is alive (default 5 s); see `connect`. */
  checkMs?: number;
}

/** Connects the listener and returns the bus once LISTEN is active. */
export async function createListenBus(deps: ListenBusDeps): Promise<EventBus> {
  const origin = randomUUID();
  const local = createLocalBus();
  const listening = new Retry('event bus listener', deps.log, { minMs: 100, maxMs: 5000 });
  const notifying = new Retry('event bus notify', deps.log);
  let closed = false;
  let listener: pg.Client | null = null;
  let check: NodeJS.Timeout | null = null;
  let retry: NodeJS.Timeout | null = null;

  const receive = (payload: string | undefined): void => {
    if (payload === undefined) return;
    let json: unknown;
    try {
      json = JSON.parse(payload);
    } catch {
      return;
    }
    const parsed = envelopeSchema.safeParse(json);
    if (parsed.success && parsed.data.o !== origin) void local.publish(parsed.data.m);
  };

  const connect = async (): Promise<void> => {
    const client = deps.newClient();
    client.on('notification', (n) => receive(n.payload));
    client.on('error', (err) => lose(client, err));
    client.on('end', () => lose(client, new Error('the listener connection ended')));
    try {
      await client.connect();
      await client.query(`LISTEN ${BUS_CHANNEL}`);
    } catch (err) {
      await client.end().catch(() => {});
      throw err;
    }
    if (closed) {
      await client.end().catch(() => {});
      return;
    }
    listener = client;
    // A half-open connection (a failover that sent no reset) reports no error and delivers nothing, for as
    // long as TCP keepalive takes (hours by default): a cheap query notices it, so we reconnect and resync.
    check = setInterval(
      () => void client.query('SELECT 1').catch((err: unknown) => lose(client, err)),
      deps.checkMs ?? 5000,
    );
    check.unref();
  };

  const lose = (client: pg.Client, err: unknown): void => {
    if (listener !== client || closed) return;
    listener = null;
    if (check !== null) clearInterval(check);
    void client.end().catch(() => {});
    schedule(listening.failed(err));
  };

  const schedule = (delay: number): void => {
    if (closed || retry !== null) return;
    retry = setTimeout(() => {
      retry = null;
      connect().then(
        () => {
          if (closed) return;
          listening.succeeded();
          // Anything published while we were not listening is only in the store now.
          void local.publish({ kind: 'resync' });
        },
        (err: unknown) => schedule(listening.failed(err)),
      );
    }, delay);
  };

  await connect();

  return {
    async publish(message: BusMessage): Promise<void> {
      if (closed) return;
      await local.publish(message);
      if (message.kind === 'resync') return;
      // Best effort: other replicas also poll the store, and resync after their own outage.
      try {
        await deps.notify(BUS_CHANNEL, JSON.stringify({ o: origin, m: message }));
        notifying.succeeded();
      } catch (err) {
        notifying.failed(err);
      }
    },
    subscribe: (handler) => local.subscribe(handler),
    async close(): Promise<void> {
      closed = true;
      if (retry !== null) clearTimeout(retry);
      if (check !== null) clearInterval(check);
      const l = listener;
      listener = null;
      await local.close();
      await l?.end().catch(() => {});
    },
  };
}
