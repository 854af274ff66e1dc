/** The backends every store test runs against: a fresh SQLite file and a fresh Postgres database. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Store } from '../../src/store/contract.js';
import { openStore } from '../../src/store/open.js';
import Database from 'better-sqlite3';
import pg from 'pg';
import { createTestDatabase } from '../support/pg.js';

export interface TestDb {
  url: string;
  store: Store;
  /** Runs raw SQL beside the store (to inject faults the store itself would never write). */
  exec(sqlText: string): Promise<void>;
  /** Closes the store and removes the database. */
  cleanup(): Promise<void>;
}

export interface Backend {
  name: 'sqlite' | 'postgres';
  /** A fresh, migrated database with an open store. */
  create(opts?: { migrate?: boolean; poolSize?: number }): Promise<TestDb>;
}

const sqlite: Backend = {
  name: 'sqlite',
  create: async (opts = {}) => {
    const dir = mkdtempSync(join(tmpdir(), 'arrakis-store-'));
    const url = `sqlite:${join(dir, 'test.db')}`;
    const store = await openStore(url);
    if (opts.migrate !== false) await store.migrate();
    return {
      url,
      store,
      exec: async (sqlText) => {
        const raw = new Database(join(dir, 'test.db'));
        try {
          raw.exec(sqlText);
        } finally {
          raw.close();
        }
      },
      cleanup: async () => {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

const postgres: Backend = {
  name: 'postgres',
  create: async (opts = {}) => {
    const db = await createTestDatabase();
    const store = await openStore(db.url, { poolSize: opts.poolSize ?? 20 });
    if (opts.migrate !== false) await store.migrate();
    return {
      url: db.url,
      store,
      exec: async (sqlText) => {
        const client = new pg.Client({ connectionString: db.url });
        await client.connect();
        try {
          await client.query(sqlText);
        } finally {
          await client.end();
        }
      },
      cleanup: async () => {
        await store.close();
        await db.drop();
      },
    };
  },
};

export const BACKENDS: readonly Backend[] = [sqlite, postgres];
