/** Opens the store named by a database URL. Migrations are not run here: callers call `store.migrate()`. */
import type { Store } from './contract.js';
import { POSTGRES_CAPABILITIES, SQLITE_CAPABILITIES } from './capabilities.js';
import { compileJobSql } from './job-sql.js';
import { KyselyStore } from './kysely-store.js';
import { openPostgres } from './postgres/open-postgres.js';
import { openSqlite } from './sqlite/open-sqlite.js';

/** Thrown for a database URL that names neither SQLite nor Postgres. */
export class UnsupportedDatabaseUrlError extends Error {
  constructor(url: string) {
    super(
      `unsupported database URL "${url}": use sqlite:./path/file.db, sqlite::memory: or postgres://user@host:5432/db`,
    );
    this.name = 'UnsupportedDatabaseUrlError';
  }
}

const DEFAULT_POOL_SIZE = 10;

/** The concrete store behind `url` (with the extra `migrateReporting` used by `arrakis migrate`). */
export function openKyselyStore(url: string, opts: { poolSize?: number } = {}): KyselyStore {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    if (path === '') throw new UnsupportedDatabaseUrlError(url);
    return new KyselyStore(openSqlite(path), SQLITE_CAPABILITIES, compileJobSql(SQLITE_CAPABILITIES));
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    const sql = compileJobSql(POSTGRES_CAPABILITIES);
    const db = openPostgres(url, opts.poolSize ?? DEFAULT_POOL_SIZE, Object.values(sql));
    return new KyselyStore(db, POSTGRES_CAPABILITIES, sql);
  }
  throw new UnsupportedDatabaseUrlError(url);
}

/** Opens `sqlite:./path/file.db`, `sqlite::memory:`, `postgres://...` or `postgresql://...`. */
export async function openStore(url: string, opts: { poolSize?: number } = {}): Promise<Store> {
  return openKyselyStore(url, opts);
}
