/**
 * One leader among replicas for a duty that must run once (the fleet): a Postgres session-level advisory lock
 * held on a dedicated connection. When that connection drops (a database outage, a partition), Postgres frees
 * the lock; the holder reconnects with backoff and takes it again (other replicas give it a head start after an
 * outage). Only if another replica took it meanwhile does the holder hear `onLost` — a short outage does not
 * stop and restart the duty.
 */
import type pg from 'pg';
import { Retry, type OutageLog } from '../../util/backoff.js';
import type { LeaderHandlers, Leadership } from '../coordination.js';

/** How often the leader checks that its lock connection is alive (a half-open connection is not trusted). */
const CHECK_MS = 5000;
/** The longest a leader waits between attempts to re-take its lock (its reconnect backoff's cap). */
const RECONNECT_MAX_MS = 5000;
/**
 * When the database answers again after an outage, a replica that did not lead waits this long before it
 * competes, so the former leader, which retries within RECONNECT_MAX_MS, takes its lock back first and keeps
 * its workers: without it, whichever replica's timer fired first after the outage won (a coin flip), and the
 * former leader then stopped its fleet and every job running on it.
 */
const FORMER_LEADER_GRACE_MS = RECONNECT_MAX_MS + 1000;

/** Stable 63-bit key for a lock name (FNV-1a folded into a signed bigint). */
export function lockKey(name: string): string {
  let h = 0xcbf29ce484222325n;
  for (const c of Buffer.from(name)) h = ((h ^ BigInt(c)) * 0x100000001b3n) & 0x7fffffffffffffffn;
  return h.toString();
}

export interface AdvisoryLeadershipDeps {
  newClient(): pg.Client;
  log: OutageLog;
  /** How often a replica that does not lead tries again. */
  retryMs: number;
}

/** Competes for the lock of `name` until closed, calling `handlers` as the duty is gained and lost. */
export function advisoryLeadership(
  deps: AdvisoryLeadershipDeps,
  name: string,
  handlers: LeaderHandlers,
): Leadership {
  const reconnect = new Retry(`the "${name}" lock connection`, deps.log, {
    minMs: 200,
    maxMs: RECONNECT_MAX_MS,
  });
  let closed = false;
  let leader = false;
  /** This replica, not leading, last found the database unreachable. */
  let unreachable = false;
  let client: pg.Client | null = null;
  let timer: NodeJS.Timeout | null = null;
  let check: NodeJS.Timeout | null = null;

  const schedule = (ms: number): void => {
    if (!closed) timer = setTimeout(start, ms);
  };

  const hold = (c: pg.Client): void => {
    client = c;
    reconnect.succeeded();
    const loseIt = (err: unknown): void => {
      if (client !== c || closed) return;
      client = null;
      if (check !== null) clearInterval(check);
      void c.end().catch(() => {});
      // Still the leader as far as the duty knows: re-take the lock as soon as the database answers.
      schedule(reconnect.failed(err));
    };
    c.on('error', loseIt);
    c.on('end', () => loseIt(new Error('the lock connection ended')));
    check = setInterval(() => void c.query('SELECT 1').catch(loseIt), CHECK_MS);
    check.unref();
    if (!leader) {
      leader = true;
      handlers.onGained();
    }
  };

  const attempt = async (): Promise<void> => {
    timer = null;
    if (closed) return;
    // keepAlive plus the periodic query: a partition is noticed, not trusted forever.
    const c = deps.newClient();
    c.on('error', () => {});
    try {
      await c.connect();
      if (!leader && unreachable) {
        unreachable = false;
        await c.end();
        return schedule(FORMER_LEADER_GRACE_MS);
      }
      const r = await c.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS ok', [
        lockKey(name),
      ]);
      if (r.rows[0]?.ok === true && !closed) return hold(c);
      await c.end();
      // Closed while re-taking: the duty is being given up, nobody took it over.
      if (closed) return;
      if (leader) {
        // Another replica leads now: it runs the duty, we stop and compete again.
        leader = false;
        reconnect.succeeded();
        handlers.onLost();
      }
      schedule(deps.retryMs);
    } catch (err) {
      await c.end().catch(() => {});
      if (!leader) unreachable = true;
      schedule(leader ? reconnect.failed(err) : deps.retryMs);
    }
  };
  // A handler that throws must not become an unhandled rejection; the next attempt carries on.
  function start(): void {
    attempt().catch((err: unknown) => {
      deps.log.warn({ err: String(err) }, `leadership of "${name}": a handler failed`);
      schedule(deps.retryMs);
    });
  }
  queueMicrotask(start);

  return {
    held: () => client !== null,
    async close() {
      closed = true;
      if (timer !== null) clearTimeout(timer);
      if (check !== null) clearInterval(check);
      const c = client;
      client = null;
      await c?.end().catch(() => {});
    },
  };
}
