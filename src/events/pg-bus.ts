/**
 * The event bus across replicas: Postgres LISTEN/NOTIFY on one channel. A message is delivered to this
 * process's subscribers at once (a local cancel never waits for a round trip) and to other replicas through
 * NOTIFY; each replica ignores its own echo. The listener reconnects with backoff; subscribers that depend on
 * completeness (SSE) also re-read the durable log periodically, so a notification lost during a reconnect
 * delays an update, never loses it.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { z } from 'zod';
import type { BusMessage, EventBus } from './bus.js';
import { createLocalBus } from './local-bus.js';

export const BUS_CHANNEL = 'arrakis_bus';

const messageSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('job_event'), jobId: z.string(), seq: z.number() }),
  z.object({ kind: z.literal('cancel'), jobId: z.string() }),
  z.object({ kind: z.literal('job_ready'), pool: z.string().nullable() }),
]);
const envelopeSchema = z.object({ o: z.string(), m: messageSchema });

export interface PgBusOptions {
  onError?: (err: unknown) => void;
}

/** Connects the listener and returns the bus once LISTEN is active. */
export async function createPgBus(url: string, options: PgBusOptions = {}): Promise<EventBus> {
  const origin = randomUUID();
  const local = createLocalBus();
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  const onError = options.onError ?? (() => {});
  pool.on('error', onError);
  let closed = false;
  let listener: pg.Client | null = null;
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
    const client = new pg.Client({ connectionString: url });
    client.on('notification', (n) => receive(n.payload));
    client.on('error', (err) => {
      onError(err);
      if (listener === client) listener = null;
      void client.end().catch(() => {});
      schedule(0);
    });
    await client.connect();
    await client.query(`LISTEN ${BUS_CHANNEL}`);
    if (closed) {
      await client.end();
      return;
    }
    listener = client;
  };

  const schedule = (attempt: number): void => {
    if (closed || retry !== null) return;
    const delay = Math.min(5000, 100 * 2 ** attempt);
    retry = setTimeout(() => {
      retry = null;
      connect().catch((err: unknown) => {
        onError(err);
        schedule(attempt + 1);
      });
    }, delay);
  };

  await connect();

  return {
    async publish(message: BusMessage): Promise<void> {
      if (closed) return;
      await local.publish(message);
      await pool.query('SELECT pg_notify($1, $2)', [BUS_CHANNEL, JSON.stringify({ o: origin, m: message })]);
    },
    subscribe: (handler) => local.subscribe(handler),
    async close(): Promise<void> {
      closed = true;
      if (retry !== null) clearTimeout(retry);
      const l = listener;
      listener = null;
      await local.close();
      await l?.end().catch(() => {});
      await pool.end().catch(() => {});
    },
  };
}
