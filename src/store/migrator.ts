/**
 * Applies the numbered migrations in one transaction. Two processes migrating at once are safe:
 * Postgres takes a transaction-scoped advisory lock before even creating the bookkeeping table,
 * SQLite's BEGIN IMMEDIATE holds the write lock; the second process then finds nothing pending.
 */
import { z } from 'zod';
import type { Capabilities } from './capabilities.js';
import { inTx, run, type Conn, type StoreContext } from './context.js';
import { MIGRATIONS } from './migrations/index.js';
import type { Migration } from './migrations/migration.js';

/** Arbitrary but fixed: the advisory lock every Arrakis process migrating this database takes. */
const MIGRATION_LOCK_KEY = 7_246_010_420;

const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS arrakis_migrations (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`;

const appliedSchema = z.object({ id: z.number() });

async function appliedIds(conn: Conn): Promise<Set<number>> {
  const rows = await run(conn, 'SELECT id FROM arrakis_migrations', []);
  return new Set(rows.map((r) => appliedSchema.parse(r).id));
}

function statementsFor(m: Migration, caps: Capabilities): readonly string[] {
  return caps.advisoryLocks ? m.postgres : m.sqlite;
}

/** Applies every pending migration; returns the names applied (empty when none was pending). */
export async function applyMigrations(ctx: StoreContext, now: number): Promise<string[]> {
  return await inTx(ctx, async (tx) => {
    if (ctx.caps.advisoryLocks) await run(tx, `SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`, []);
    await run(tx, CREATE_TABLE, []);
    const done = await appliedIds(tx);
    const applied: string[] = [];
    for (const m of MIGRATIONS) {
      if (done.has(m.id)) continue;
      for (const statement of statementsFor(m, ctx.caps)) await run(tx, statement, []);
      const insert = ctx.caps.numberedParams
        ? 'INSERT INTO arrakis_migrations (id, name, applied_at) VALUES ($1, $2, $3)'
        : 'INSERT INTO arrakis_migrations (id, name, applied_at) VALUES (?, ?, ?)';
      await run(tx, insert, [m.id, m.name, now]);
      applied.push(`${String(m.id).padStart(3, '0')}-${m.name}`);
    }
    return applied;
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
