/** What every verb module receives: the database, its capability flags and its compiled job SQL. */
import { CompiledQuery, type Kysely } from 'kysely';
import type { Capabilities } from './capabilities.js';
import type { BucketMirror } from './bucket-mirror.js';
import { runStepsSync, type DirectSql, type Steps } from './direct.js';
import type { JobSql } from './job-sql.js';
import type { DatabaseSchema } from './schema.js';

/** The database or an open transaction on it (a Kysely Transaction is a Kysely). */
export type Conn = Kysely<DatabaseSchema>;

export interface StoreContext {
  readonly db: Conn;
  readonly caps: Capabilities;
  readonly sql: JobSql;
  /** Synchronous statements for the hot verbs, where the dialect runs them in-process (SQLite); see direct.ts. */
  readonly direct?: DirectSql;
  /** This process's own rate-bucket takes (bucket-mirror.ts); kept where statements run in-process, in order. */
  readonly buckets?: BucketMirror;
}

/** Runs one prepared SQL text with positional parameters and returns its rows (unvalidated). */
export async function run(conn: Conn, text: string, params: readonly unknown[]): Promise<unknown[]> {
  const result = await conn.executeQuery(CompiledQuery.raw(text, [...params]));
  return result.rows;
}

/** Runs `steps` to the end on `conn` (the database or a transaction), one awaited statement at a time. */
export async function runSteps<T>(conn: Conn, steps: Steps<T>): Promise<T> {
  let next = steps.next([]);
  while (next.done !== true) {
    let rows: unknown[];
    try {
      rows = await run(conn, next.value.text, next.value.params);
    } catch (err) {
      // Thrown into the steps at its `yield`, as runStepsSync does.
      next = steps.throw(err);
      continue;
    }
    next = steps.next(rows);
  }
  return next.value;
}

/** One statement on the database: synchronously under the connection lock where the dialect allows. */
export async function runOne(
  ctx: StoreContext,
  text: string,
  params: readonly unknown[],
): Promise<unknown[]> {
  return ctx.direct === undefined ? await run(ctx.db, text, params) : await ctx.direct.query(text, params);
}

/** The steps `make` returns, in one write transaction (as inTx), synchronously where the dialect allows. */
export async function writeSteps<T>(ctx: StoreContext, make: () => Steps<T>): Promise<T> {
  if (ctx.direct !== undefined) return await ctx.direct.write((exec) => runStepsSync(exec, make()));
  return await inTx(ctx, (tx) => runSteps(tx, make()));
}

/** The read-only steps `make` returns: in one read transaction where the dialect runs them synchronously. */
export async function readSteps<T>(ctx: StoreContext, make: () => Steps<T>): Promise<T> {
  if (ctx.direct !== undefined) return await ctx.direct.read((exec) => runStepsSync(exec, make()));
  return await runSteps(ctx.db, make());
}

/** Runs `fn` in one transaction (BEGIN IMMEDIATE on SQLite, READ COMMITTED on Postgres). */
export async function inTx<T>(ctx: StoreContext, fn: (tx: Conn) => Promise<T>): Promise<T> {
  return await ctx.db.transaction().execute(fn);
}

/** True for a unique-constraint violation on either database. */
export function isUniqueViolation(err: unknown): boolean {
  if (typeof err !== 'object' || err === null || !('code' in err)) return false;
  const code = err.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** True for a foreign-key violation on either database. */
export function isForeignKeyViolation(err: unknown): boolean {
  if (typeof err !== 'object' || err === null || !('code' in err)) return false;
  return err.code === '23503' || err.code === 'SQLITE_CONSTRAINT_FOREIGNKEY';
}
