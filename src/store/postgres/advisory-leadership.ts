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
  const contender = new LockContender(deps, name, handlers);
  queueMicrotask(() => contender.start());
  return contender;
}

/** One replica's side of the competition: try, hold (and watch the connection), re-take after a drop. */
class LockContender implements Leadership {
  private readonly reconnect: Retry;
  private closed = false;
  private leader = false;
  /** This replica, not leading, last found the database unreachable. */
  private unreachable = false;
  private client: pg.Client | null = null;
  private timer: NodeJS.Timeout | null = null;
  private check: NodeJS.Timeout | null = null;

  constructor(
    private readonly deps: AdvisoryLeadershipDeps,
    private readonly name: string,
    private readonly handlers: LeaderHandlers,
  ) {
    this.reconnect = new Retry(`the "${name}" lock connection`, deps.log, {
      minMs: 200,
      maxMs: RECONNECT_MAX_MS,
    });
  }

  held(): boolean {
    return this.client !== null;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.check !== null) clearInterval(this.check);
    const c = this.client;
    this.client = null;
    await c?.end().catch(() => {});
  }

  /** One attempt; a handler that throws must not become an unhandled rejection, the next attempt carries on. */
  start(): void {
    this.attempt().catch((err: unknown) => {
      this.deps.log.warn({ err: String(err) }, `leadership of "${this.name}": a handler failed`);
      this.schedule(this.deps.retryMs);
    });
  }

  private schedule(ms: number): void {
    if (!this.closed) this.timer = setTimeout(() => this.start(), ms);
  }

  private async attempt(): Promise<void> {
    this.timer = null;
    if (this.closed) return;
    // keepAlive plus the periodic query: a partition is noticed, not trusted forever.
    const c = this.deps.newClient();
    c.on('error', () => {});
    try {
      await c.connect();
      if (!this.leader && this.unreachable) {
        this.unreachable = false;
        await c.end();
        return this.schedule(FORMER_LEADER_GRACE_MS);
      }
      const r = await c.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS ok', [
        lockKey(this.name),
      ]);
      if (r.rows[0]?.ok === true && !this.closed) return this.hold(c);
      await c.end();
      this.lockTakenElsewhere();
    } catch (err) {
      await c.end().catch(() => {});
      if (!this.leader) this.unreachable = true;
      this.schedule(this.leader ? this.reconnect.failed(err) : this.deps.retryMs);
    }
  }

  /** The database answered but the lock is another replica's. */
  private lockTakenElsewhere(): void {
    // Closed while re-taking: the duty is being given up, nobody took it over.
    if (this.closed) return;
    if (this.leader) {
      // Another replica leads now: it runs the duty, we stop and compete again.
      this.leader = false;
      this.reconnect.succeeded();
      this.handlers.onLost();
    }
    this.schedule(this.deps.retryMs);
  }

  private hold(c: pg.Client): void {
    this.client = c;
    this.reconnect.succeeded();
    const loseIt = (err: unknown): void => this.connectionLost(c, err);
    c.on('error', loseIt);
    c.on('end', () => loseIt(new Error('the lock connection ended')));
    this.check = setInterval(() => void c.query('SELECT 1').catch(loseIt), CHECK_MS);
    this.check.unref();
    if (!this.leader) {
      this.leader = true;
      this.handlers.onGained();
    }
  }

  private connectionLost(c: pg.Client, err: unknown): void {
    if (this.client !== c || this.closed) return;
    this.client = null;
    if (this.check !== null) clearInterval(this.check);
    void c.end().catch(() => {});
    // Still the leader as far as the duty knows: re-take the lock as soon as the database answers.
    this.schedule(this.reconnect.failed(err));
  }
}
