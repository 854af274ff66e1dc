/**
 * Opens the embedded SQLite database: WAL, a busy timeout, synchronous=NORMAL and foreign keys; a file database's
 * WAL is checkpointed on a worker thread once it has been written a while (wal-checkpointer.ts).
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, SqliteAdapter, SqliteIntrospector, SqliteQueryCompiler } from 'kysely';
import type { DirectSql } from '../direct.js';
import type { DatabaseSchema } from '../schema.js';
import { ImmediateSqliteDriver } from './sqlite-driver.js';
import { WalCheckpointer } from './wal-checkpointer.js';

/**
 * `path` is a file path or `:memory:`; the parent folder of a file is created when missing. `direct` runs the
 * hot verbs' statements synchronously on the same connection (../direct.ts).
 */
export function openSqlite(path: string): { db: Kysely<DatabaseSchema>; direct: DirectSql } {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const raw = new Database(path);
  raw.pragma('journal_mode = WAL');
  raw.pragma('busy_timeout = 5000');
  raw.pragma('synchronous = NORMAL');
  raw.pragma('foreign_keys = ON');
  const checkpointer = path === ':memory:' ? null : new WalCheckpointer(raw, path);
  const driver = new ImmediateSqliteDriver(raw, checkpointer);
  const db = new Kysely<DatabaseSchema>({
    dialect: {
      createAdapter: () => new SqliteAdapter(),
      createDriver: () => driver,
      createIntrospector: (db) => new SqliteIntrospector(db),
      createQueryCompiler: () => new SqliteQueryCompiler(),
    },
  });
  return { db, direct: driver.direct };
}
