/**
 * One leader among replicas for work that must run once (the fleet controller): a Postgres session-level
 * advisory lock held on a dedicated connection. If that connection drops, Postgres releases the lock and
 * another replica takes over at its next try. SQLite deployments are one process: always the leader.
 */
import pg from 'pg';

export interface Leadership {
  /** Resolves when this process holds the lock; rejects if closed before that. */
  acquired: Promise<void>;
  /** True while this process holds the lock. */
  held(): boolean;
  /** Called if the lock is lost after it was held (the connection died). */
  onLost(handler: () => void): void;
  close(): Promise<void>;
}

/** How often the leader checks that its lock connection is alive. */
const CHECK_MS = 5000;

/** Stable 63-bit key for a lock name (FNV-1a folded into a signed bigint). */
function lockKey(name: string): string {
  let h = 0xcbf29ce484222325n;
  for (const c of Buffer.from(name)) h = ((h ^ BigInt(c)) * 0x100000001b3n) & 0x7fffffffffffffffn;
  return h.toString();
}

/** Competes for `name` until it wins or is closed; retries every `retryMs`. */
export function lead(dbUrl: string, name: string, retryMs = 5000): Leadership {
  if (!dbUrl.startsWith('postgres')) {
    return { acquired: Promise.resolve(), held: () => true, onLost: () => {}, close: async () => {} };
  }
  let closed = false;
  let client: pg.Client | null = null;
  let timer: NodeJS.Timeout | null = null;
  let check: NodeJS.Timeout | null = null;
  const lostHandlers: Array<() => void> = [];
  let resolveAcquired: () => void = () => {};
  let rejectAcquired: (err: Error) => void = () => {};
  const acquired = new Promise<void>((resolve, reject) => {
    resolveAcquired = resolve;
    rejectAcquired = reject;
  });
  // Nobody may be waiting when it is closed unacquired; that rejection is expected.
  acquired.catch(() => {});

  const attempt = async (): Promise<void> => {
    if (closed) return;
    // keepAlive plus a periodic query: a half-open connection (a partition) is noticed, not trusted forever —
    // Postgres frees the lock when it drops the session, and another replica may already lead.
    const c = new pg.Client({ connectionString: dbUrl, keepAlive: true, query_timeout: 10_000 });
    try {
      await c.connect();
      const r = await c.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS ok', [lockKey(name)]);
      if (r.rows[0]?.ok === true && !closed) {
        client = c;
        let lost = false;
        const loseIt = (): void => {
          if (lost || closed) return;
          lost = true;
          client = null;
          if (check !== null) clearInterval(check);
          void c.end().catch(() => {});
          for (const h of lostHandlers) h();
        };
        c.on('error', loseIt);
        c.on('end', loseIt);
        check = setInterval(() => {
          c.query('SELECT 1').catch(loseIt);
        }, CHECK_MS);
        check.unref();
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
    held: () => client !== null,
    onLost: (h) => lostHandlers.push(h),
    async close() {
      closed = true;
      if (client === null) rejectAcquired(new Error('leadership closed before it was acquired'));
      if (timer !== null) clearTimeout(timer);
      if (check !== null) clearInterval(check);
      await client?.end().catch(() => {});
      client = null;
    },
  };
}
