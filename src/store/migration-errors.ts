/**
 * How a migration run fails: the migration that failed is named, and the ones before it stay applied (each
 * commits on its own). A lock it could not get within the lock timeout, however often it tried, says which
 * table and who holds it, because the cure is to end that session, not to look at the migration.
 */
import { describeError } from '../util/backoff.js';

/** Postgres's SQLSTATE for `lock_timeout` (lock_not_available; also NOWAIT). */
const LOCK_NOT_AVAILABLE = '55P03';

/** True for a statement Postgres cancelled because it waited on a lock longer than `lock_timeout`. */
export function isLockTimeout(err: unknown): boolean {
  return typeof err === 'object' && err !== null && 'code' in err && err.code === LOCK_NOT_AVAILABLE;
}

/** A migration's SQL failed (not a lock timeout): its transaction rolled back, earlier migrations are applied. */
export class MigrationFailedError extends Error {
  readonly code = 'migration_failed';
  constructor(
    readonly migration: string,
    readonly statement: string,
    cause: unknown,
  ) {
    super(
      `migration ${migration} failed and was rolled back (the migrations before it are applied): ` +
        `${describeError(cause)}${statement === '' ? '' : ` (statement: ${abbreviate(statement)})`}`,
      { cause },
    );
    this.name = 'MigrationFailedError';
  }
}

/** One session holding a lock the migration waited for (from pg_locks and pg_stat_activity). */
export interface LockHolder {
  pid: number;
  mode: string;
  state: string;
  /** How long its transaction (else its statement) has run, in ms. */
  heldMs: number;
  query: string;
}

/** Every attempt of a migration gave up on a lock after `lock_timeout`: some long query or transaction holds it. */
export class MigrationLockTimeoutError extends Error {
  readonly code = 'migration_lock_timeout';
  constructor(
    readonly migration: string,
    readonly statement: string,
    readonly table: string | null,
    readonly holders: readonly LockHolder[],
    attempts: number,
    lockTimeoutMs: number,
    cause: unknown,
  ) {
    const what = table === null ? 'a lock its statement needs' : `its lock on table "${table}"`;
    super(
      `migration ${migration} could not get ${what} within ${lockTimeoutMs} ms in ${attempts} attempts ` +
        `(statement: ${abbreviate(statement)}): a long-running query or open transaction holds a conflicting ` +
        `lock${describeHolders(holders)}; end it (pg_cancel_backend / pg_terminate_backend) or let it finish, ` +
        `then migrate again. Earlier migrations are applied.`,
      { cause },
    );
    this.name = 'MigrationLockTimeoutError';
  }
}

/** One attempt of a migration gave up on a lock (Postgres `lock_timeout`) and the migration is tried again. */
export interface MigrationRetry {
  /** The migration, e.g. `012-attempt-refunds`. */
  migration: string;
  /** The attempt that gave up (1 for the first) and how many are made before the run fails. */
  attempt: number;
  attempts: number;
  /** The table its statement waited for, when the statement names one. */
  table: string | null;
  /** The sessions holding a lock on that table as the attempt gave up (empty when unknown). */
  holders: readonly LockHolder[];
  /** How long until the next attempt, in ms. */
  retryInMs: number;
}

/**
 * The operator's warning for a retry: which migration waits for which table, who holds it, and what happens
 * next (serve logs it, `arrakis migrate` prints it to stderr).
 */
export function migrationRetryMessage(r: MigrationRetry): string {
  const what = r.table === null ? 'a lock its statement needs' : `its lock on table "${r.table}"`;
  const holders = r.holders.length === 0 ? '' : describeHolders(r.holders);
  return (
    `migration ${r.migration} could not get ${what} (attempt ${r.attempt} of ${r.attempts}); ` +
    `retrying in ${Math.round(r.retryInMs)} ms${holders === '' ? '' : `; held by${holders.slice(1)}`}`
  );
}

function describeHolders(holders: readonly LockHolder[]): string {
  if (holders.length === 0) return ' (it had ended by the time this error was written)';
  const each = holders.map(
    (h) =>
      `pid ${h.pid} (${h.mode}, ${h.state} for ${Math.round(h.heldMs / 1000)} s, last statement: ${abbreviate(h.query)})`,
  );
  return `: ${each.join('; ')}`;
}

/** The statement's first line-ish, whitespace folded, short enough for a log line. */
function abbreviate(text: string): string {
  const folded = text.replace(/\s+/g, ' ').trim();
  return folded.length > 120 ? `${folded.slice(0, 117)}...` : folded;
}

/**
 * The table a migration statement locks, when its form names one (ALTER TABLE t, CREATE INDEX … ON t,
 * CREATE TRIGGER … ON t, UPDATE t, DELETE FROM t, INSERT INTO t, DROP TABLE t, LOCK TABLE t); else null.
 */
export function lockedTable(statement: string): string | null {
  const forms = [
    /^\s*(?:ALTER|DROP|LOCK|TRUNCATE)\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?("?[\w.]+"?)/i,
    /^\s*CREATE\s+(?:UNIQUE\s+)?INDEX\b[^;]*?\bON\s+(?:ONLY\s+)?("?[\w.]+"?)/i,
    /^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:CONSTRAINT\s+)?TRIGGER\b[^;]*?\bON\s+("?[\w.]+"?)/i,
    /^\s*(?:UPDATE|DELETE\s+FROM|INSERT\s+INTO)\s+(?:ONLY\s+)?("?[\w.]+"?)/i,
  ];
  for (const form of forms) {
    const name = form.exec(statement)?.[1];
    if (name !== undefined) return name.replaceAll('"', '');
  }
  return null;
}
