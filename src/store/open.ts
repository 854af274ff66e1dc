/** Opens the store named by a database URL. Migrations are not run here: callers call `store.migrate()`. */
import type { Store } from './contract.js';
import { POSTGRES_CAPABILITIES, SQLITE_CAPABILITIES } from './capabilities.js';
import { compileJobSql } from './job-sql.js';
import { KyselyStore } from './kysely-store.js';
import type { MigrateOptions, MigrationRetry } from './migrator.js';
import { postgresCoordination } from './postgres/coordination.js';
import { openPostgres } from './postgres/open-postgres.js';
import { openSqlite } from './sqlite/open-sqlite.js';
import { describeError } from '../util/backoff.js';
import { redactUrlPasswords } from '../util/redact.js';

/** Thrown for a database URL that names neither SQLite nor Postgres. */
export class UnsupportedDatabaseUrlError extends Error {
  constructor(url: string) {
    super(
      `unsupported database URL "${redactUrlPasswords(url)}": use sqlite:./path/file.db, sqlite::memory: or postgres://user@host:5432/db`,
    );
    this.name = 'UnsupportedDatabaseUrlError';
  }
}

const DEFAULT_POOL_SIZE = 10;

export interface StoreOptions {
  /** Postgres connections (default 10). */
  poolSize?: number;
  /** Postgres: how long a statement may go unanswered, in ms (default 60 s; migrations have no limit). */
  queryTimeoutMs?: number;
  /** Postgres: how long a migration statement waits for a lock before its attempt gives up and is retried, in
   *  ms (default 5 s; see migrator.ts). */
  migrationLockTimeoutMs?: number;
  /** Postgres: called each time a migration gave up on a lock and is retried (the operator's warning). */
  onMigrationRetry?: (retry: MigrationRetry) => void;
}

/** The migration options of `opts` (only those given). */
function migrateOptions(opts: StoreOptions): MigrateOptions {
  return {
    ...(opts.migrationLockTimeoutMs === undefined ? {} : { lockTimeoutMs: opts.migrationLockTimeoutMs }),
    ...(opts.onMigrationRetry === undefined ? {} : { onRetry: opts.onMigrationRetry }),
  };
}

/** The concrete store behind `url`. */
export function openKyselyStore(url: string, opts: StoreOptions = {}): KyselyStore {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    if (path === '') throw new UnsupportedDatabaseUrlError(url);
    const { db, direct } = openSqlite(path);
    return new KyselyStore(db, SQLITE_CAPABILITIES, compileJobSql(SQLITE_CAPABILITIES), undefined, direct);
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    const sql = compileJobSql(POSTGRES_CAPABILITIES);
    const db = openPostgres(url, opts.poolSize ?? DEFAULT_POOL_SIZE, Object.values(sql), opts);
    return new KyselyStore(
      db,
      POSTGRES_CAPABILITIES,
      sql,
      (conn, options) => postgresCoordination(url, conn, options),
      undefined,
      () => openPostgres(url, 1, [], { queryTimeoutMs: 0 }),
      migrateOptions(opts),
    );
  }
  throw new UnsupportedDatabaseUrlError(url);
}

/** Opens `sqlite:./path/file.db`, `sqlite::memory:`, `postgres://...` or `postgresql://...`. */
export async function openStore(url: string, opts: StoreOptions = {}): Promise<Store> {
  return openKyselyStore(url, opts);
}

/** The database could not be opened or migrated; the message names it with any password redacted. */
export class DatabaseOpenError extends Error {
  constructor(url: string, cause: unknown) {
    super(
      `cannot open the database ${redactUrlPasswords(url)}: ${redactUrlPasswords(describeError(cause))}`,
      {
        cause,
      },
    );
    this.name = 'DatabaseOpenError';
  }
}

/** Opens the store and applies pending migrations (the first statements that really reach the database). */
export async function openMigratedStore(url: string, opts: StoreOptions = {}): Promise<Store> {
  let store: Store;
  try {
    store = await openStore(url, opts);
  } catch (err) {
    throw err instanceof UnsupportedDatabaseUrlError ? err : new DatabaseOpenError(url, err);
  }
  try {
    await store.migrate();
    return store;
  } catch (err) {
    await store.close().catch(() => {});
    throw new DatabaseOpenError(url, err);
  }
}
