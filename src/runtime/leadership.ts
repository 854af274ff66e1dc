/**
 * One leader among replicas for work that must run once (the fleet controller): a Postgres session-level
 * advisory lock held on a dedicated connection. If that connection drops, Postgres releases the lock and
 * another replica takes over at its next try. SQLite deployments are one process: always the leader.
 */
import pg from 'pg';

export interface Leadership {
  /** Resolves when this process holds the lock (never, if closed first). */
  acquired: Promise<void>;
  /** Called if the lock is lost after it was held (the connection died). */
  onLost(handler: () => void): void;
  close(): Promise<void>;
}

/** Stable 63-bit key for a lock name (FNV-1a folded into a signed bigint). */
function lockKey(name: string): string {
  let h = 0xcbf29ce484222325n;
  for (const c of Buffer.from(name)) h = ((h ^ BigInt(c)) * 0x100000001b3n) & 0x7fffffffffffffffn;
  return h.toString();
}

/** Competes for `name` until it wins or is closed; retries every `retryMs`. */
export function lead(dbUrl: string, name: string, retryMs = 5000): Leadership {
  if (!dbUrl.startsWith('postgres')) {
    return { acquired: Promise.resolve(), onLost: () => {}, close: async () => {} };
  }
  let closed = false;
  let client: pg.Client | null = null;
  let timer: NodeJS.Timeout | null = null;
  const lostHandlers: Array<() => void> = [];
  let resolveAcquired: () => void = () => {};
  const acquired = new Promise<void>((resolve) => (resolveAcquired = resolve));

  const attempt = async (): Promise<void> => {
    if (closed) return;
    const c = new pg.Client({ connectionString: dbUrl });
    try {
      await c.connect();
      const r = await c.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS ok', [lockKey(name)]);
      if (r.rows[0]?.ok === true && !closed) {
        client = c;
        c.on('error', () => {
          client = null;
          for (const h of lostHandlers) h();
        });
        resolveAcquired();
        return;
      }
      await c.end();
    } catch {
      await c.end().catch(() => {});
    }
    if (!closed) timer = setTimeout(() => void attempt(), retryMs);
  };
  void attempt();

  return {
    acquired,
    onLost: (h) => lostHandlers.push(h),
    async close() {
      closed = true;
      if (timer !== null) clearTimeout(timer);
      await client?.end().catch(() => {});
      client = null;
    },
  };
}
