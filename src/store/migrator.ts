/**
 * Applies the numbered migrations, each in a transaction of its own that also records it as applied, so a
 * failure leaves the earlier ones applied and names the one that failed (migration-errors.ts).
 *
 * Postgres: the run holds a session-level advisory lock from start to end (on one pinned connection), so two
 * processes never interleave: the second waits, then finds nothing pending. The key is the one the
 * previous release's transaction-level lock used, and the two kinds conflict, so a replica of either release
 * waits for the other. Each migration's transaction sets `lock_timeout`: a statement that cannot get its lock
 * (an ALTER TABLE jobs queued behind a long query, with every other replica's reads of jobs queued behind
 * it) gives up after that long, its transaction rolls back, the queue behind it drains, and the migration is
 * tried again after a backoff; after the last attempt the run fails naming the table and who holds it.
 *
 * SQLite: each migration in its own BEGIN IMMEDIATE transaction (the write lock, waited for up to the
 * connection's busy_timeout), which re-reads whether another process applied it meanwhile.
 */
import { z } from 'zod';
import type { Capabilities } from './capabilities.js';
import { run, type Conn, type StoreContext } from './context.js';
import {
  isLockTimeout,
  lockedTable,
  MigrationFailedError,
  MigrationLockTimeoutError,
  type MigrationRetry,
} from './migration-errors.js';
import { MIGRATIONS } from './migrations/index.js';
import type { Migration } from './migrations/migration.js';
import { lockHolders } from './postgres/lock-holders.js';
import { isStoreUnavailable } from './unavailable.js';

export type { MigrationRetry };

/** Arbitrary but fixed: the advisory lock every Arrakis process migrating this database takes. */
const MIGRATION_LOCK_KEY = 7_246_010_420;

/** How long one migration statement may wait for a lock on Postgres before its attempt gives up. */
export const DEFAULT_MIGRATION_LOCK_TIMEOUT_MS = 5_000;

/** Attempts per migration when its lock times out; the waits between them double from a fifth of the timeout. */
const LOCK_ATTEMPTS = 5;

const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS arrakis_migrations (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`;

const appliedSchema = z.object({ id: z.number() });

export interface MigrateOptions {
  /** Postgres `lock_timeout` of each migration's transaction, in ms (default 5 s). */
  lockTimeoutMs?: number;
  /**
   * Called each time a migration's attempt gave up on a lock and is retried (the run may wait ~40 s in all
   * before it fails): the operator's warning. Must not throw (an error is ignored).
   */
  onRetry?: (retry: MigrationRetry) => void;
}

/** What applyOne's retries need besides the migration. */
interface Attempts {
  lockTimeoutMs: number;
  onRetry: ((retry: MigrationRetry) => void) | undefined;
}

async function appliedIds(conn: Conn): Promise<Set<number>> {
  const rows = await run(conn, 'SELECT id FROM arrakis_migrations', []);
  return new Set(rows.map((r) => appliedSchema.parse(r).id));
}

function statementsFor(m: Migration, caps: Capabilities): readonly string[] {
  return caps.advisoryLocks ? m.postgres : m.sqlite;
}

function label(m: Migration): string {
  return `${String(m.id).padStart(3, '0')}-${m.name}`;
}

/** A statement of a migration failed: which one, for the error. */
class StatementFailed {
  constructor(
    readonly statement: string,
    readonly cause: unknown,
  ) {}
}

/**
 * One migration in one transaction on `session`: skipped (false) when already recorded, else its statements
 * and its arrakis_migrations row, committed together (true).
 */
async function applyOne(
  session: Conn,
  caps: Capabilities,
  m: Migration,
  now: number,
  lockTimeoutMs: number,
): Promise<boolean> {
  const p = caps.numberedParams ? ['$1', '$2', '$3'] : ['?', '?', '?'];
  return await session.transaction().execute(async (tx) => {
    // SET cannot take a parameter; the value is an integer we formatted.
    if (caps.advisoryLocks) await run(tx, `SET LOCAL lock_timeout = ${Math.round(lockTimeoutMs)}`, []);
    if ((await run(tx, `SELECT id FROM arrakis_migrations WHERE id = ${p[0]}`, [m.id])).length > 0)
      return false;
    for (const statement of statementsFor(m, caps)) {
      try {
        await run(tx, statement, []);
      } catch (err) {
        throw new StatementFailed(statement, err);
      }
    }
    await run(tx, `INSERT INTO arrakis_migrations (id, name, applied_at) VALUES (${p.join(', ')})`, [
      m.id,
      m.name,
      now,
    ]);
    return true;
  });
}

/** applyOne, again after a backoff while a statement's lock times out; errors name the migration. */
async function applyWithRetries(
  session: Conn,
  caps: Capabilities,
  m: Migration,
  now: number,
  { lockTimeoutMs, onRetry }: Attempts,
): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await applyOne(session, caps, m, now, lockTimeoutMs);
    } catch (err) {
      const failed = err instanceof StatementFailed ? err : new StatementFailed('', err);
      // No database (a dropped connection) is not the migration's fault: callers see it as before.
      if (isStoreUnavailable(failed.cause)) throw failed.cause;
      if (!isLockTimeout(failed.cause))
        throw new MigrationFailedError(label(m), failed.statement, failed.cause);
      const table = lockedTable(failed.statement);
      if (attempt >= LOCK_ATTEMPTS) {
        const holders = table === null ? [] : await lockHolders(session, table);
        throw new MigrationLockTimeoutError(
          label(m),
          failed.statement,
          table,
          holders,
          attempt,
          lockTimeoutMs,
          failed.cause,
        );
      }
      const retryInMs = (lockTimeoutMs / 5) * 2 ** (attempt - 1);
      if (onRetry !== undefined) {
        // Who holds the table is what the operator acts on; a failure to read it leaves the warning without.
        const holders = table === null ? [] : await lockHolders(session, table);
        const retry = { migration: label(m), attempt, attempts: LOCK_ATTEMPTS, table, holders, retryInMs };
        try {
          onRetry(retry);
        } catch {
          // A warning's failure must not fail the migration.
        }
      }
      await new Promise((resolve) => setTimeout(resolve, retryInMs));
    }
  }
}

/** Every pending migration in order on `session` (one connection); the names applied. */
async function applyPending(
  session: Conn,
  caps: Capabilities,
  now: number,
  attempts: Attempts,
): Promise<string[]> {
  await run(session, CREATE_TABLE, []);
  const done = await appliedIds(session);
  const applied: string[] = [];
  for (const m of MIGRATIONS) {
    if (done.has(m.id)) continue;
    if (await applyWithRetries(session, caps, m, now, attempts)) applied.push(label(m));
  }
  return applied;
}

/** Applies every pending migration; returns the names applied (empty when none was pending). */
export async function applyMigrations(
  ctx: StoreContext,
  now: number,
  opts: MigrateOptions = {},
): Promise<string[]> {
  const attempts = {
    lockTimeoutMs: opts.lockTimeoutMs ?? DEFAULT_MIGRATION_LOCK_TIMEOUT_MS,
    onRetry: opts.onRetry,
  };
  if (!ctx.caps.advisoryLocks) return await applyPending(ctx.db, ctx.caps, now, attempts);
  // One pinned connection: the session lock and every migration's transaction on the same backend.
  return await ctx.db.connection().execute(async (session) => {
    // Waited for however long the other runner takes, whatever lock_timeout the role or database sets (each
    // migration's transaction sets its own).
    await run(session, 'SET lock_timeout = 0', []);
    await run(session, `SELECT pg_advisory_lock(${MIGRATION_LOCK_KEY})`, []);
    try {
      return await applyPending(session, ctx.caps, now, attempts);
    } finally {
      await run(session, `SELECT pg_advisory_unlock(${MIGRATION_LOCK_KEY})`, []).catch(() => {});
    }
  });
}

/** True when the database answers and no migration is pending. */
export async function migrationsComplete(ctx: StoreContext): Promise<boolean> {
  try {
    const done = await appliedIds(ctx.db);
    return MIGRATIONS.every((m) => done.has(m.id));
  } catch {
    return false;
  }
}
