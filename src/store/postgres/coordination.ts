/** Coordination on Postgres: LISTEN/NOTIFY for the bus, session advisory locks for leaders. */
import pg from 'pg';
import { SILENT_OUTAGE_LOG } from '../../util/backoff.js';
import { run, type Conn } from '../context.js';
import type { Coordination, CoordinationOptions } from '../coordination.js';
import { advisoryLeadership } from './advisory-leadership.js';
import { createListenBus } from './listen-bus.js';

/** Opens the listener for `url` (the store's own database) and returns the replicas' coordination. */
export async function postgresCoordination(
  url: string,
  db: Conn,
  options: CoordinationOptions,
): Promise<Coordination & { close(): Promise<void> }> {
  const log = options.log ?? SILENT_OUTAGE_LOG;
  // Dedicated connections (LISTEN and the lock live with their session), with TCP keepalive so a dead peer
  // is noticed; they are not pool members and never run store queries.
  const newClient = (): pg.Client =>
    new pg.Client({
      connectionString: url,
      keepAlive: true,
      query_timeout: 10_000,
      connectionTimeoutMillis: 10_000,
    });
  const bus = await createListenBus({
    newClient,
    notify: async (channel, payloads) => {
      // One notification per payload, in order: an older replica reads each payload as one message.
      const calls = payloads.map((_, i) => `pg_notify($1, $${i + 2})`).join(', ');
      await run(db, `SELECT ${calls}`, [channel, ...payloads]);
    },
    log,
  });
  const leaders = new Set<{ close(): Promise<void> }>();
  return {
    bus,
    lead(name, handlers) {
      const l = advisoryLeadership(
        { newClient, log, retryMs: options.leaderRetryMs ?? 5000 },
        name,
        handlers,
      );
      leaders.add(l);
      return l;
    },
    async close() {
      await Promise.allSettled([...leaders].map((l) => l.close()));
      await bus.close();
    },
  };
}
