/**
 * Postgres LISTEN on a dedicated connection, for the cross-replica event bus. Sending is
 * `store.notify(channel, payload)` (pg_notify). The channel name is quoted as an identifier.
 */
import pg from 'pg';

/** Listens on `channel` until `close()`; `onPayload` gets each notification's payload. */
export async function listen(
  url: string,
  channel: string,
  onPayload: (payload: string) => void,
): Promise<{ close(): Promise<void> }> {
  const client = new pg.Client({ connectionString: url });
  // A dropped listener connection must not crash the process; the bus decides how to recover.
  client.on('error', () => {});
  await client.connect();
  client.on('notification', (msg) => {
    if (msg.channel === channel) onPayload(msg.payload ?? '');
  });
  await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
  return {
    close: async () => {
      await client.end();
    },
  };
}
