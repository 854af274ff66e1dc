/** What every verb module receives: the database, its capability flags and its compiled job SQL. */
import { CompiledQuery, type Kysely } from 'kysely';
import type { Capabilities } from './capabilities.js';
import type { JobSql } from './job-sql.js';
import type { DatabaseSchema } from './schema.js';

/** The database or an open transaction on it (a Kysely Transaction is a Kysely). */
export type Conn = Kysely<DatabaseSchema>;

export interface StoreContext {
  readonly db: Conn;
  readonly caps: Capabilities;
  readonly sql: JobSql;
}

/** Runs one prepared SQL text with positional parameters and returns its rows (unvalidated). */
export async function run(conn: Conn, text: string, params: readonly unknown[]): Promise<unknown[]> {
  const result = await conn.executeQuery(CompiledQuery.raw(text, [...params]));
  return result.rows;
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
