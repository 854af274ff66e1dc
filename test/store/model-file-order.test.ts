/**
 * The model registry lists its files by name in UTF-8 code units on both backends, with or without names asked
 * for, whatever the database's collation; so does a worker's list of refused prefetch files. Postgres runs here on a database created with the ICU en-US locale
 * (as an operator's `initdb` on an en_US machine would give), which orders `_x, a, B, Z`; the test helper's
 * databases use the C locale, where a plain ORDER BY already sorts by bytes and could not tell.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, inject } from 'vitest';
import type { Store } from '../../src/store/contract.js';
import { openStore } from '../../src/store/open.js';
import { execPg } from '../support/pg.js';
import { BACKENDS } from './backends.js';
import { registerWorker } from './fixtures.js';

/** A name past U+FFFF (UTF-16 surrogates sort it before U+FF5E; UTF-8 bytes after) and one just below it. */
const NAMES = ['B.safetensors', 'a.safetensors', '_x', 'Z', '\u{1F600}.ckpt', '\u{FF5E}.ckpt'];
/** Code units of UTF-8: what SQLite's BINARY and Postgres's "C" collation compare. */
const BYTE_ORDER = ['B.safetensors', 'Z', '_x', 'a.safetensors', '\u{FF5E}.ckpt', '\u{1F600}.ckpt'];

interface OrderDb {
  store: Store;
  /** The names in the database's own collation (a plain ORDER BY), read beside the store. */
  plainOrder(): Promise<string[]>;
  cleanup(): Promise<void>;
}

async function enUsPostgres(): Promise<OrderDb> {
  const adminUrl = inject('pgAdminUrl');
  const name = `t_${randomBytes(6).toString('hex')}`;
  await execPg(
    adminUrl,
    `CREATE DATABASE ${name} TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'`,
  );
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const store = await openStore(url.toString());
  await store.migrate();
  const { default: pg } = await import('pg');
  return {
    store,
    plainOrder: async () => {
      const client = new pg.Client({ connectionString: url.toString() });
      await client.connect();
      try {
        const rows = await client.query<{ name: string }>('SELECT name FROM model_files ORDER BY name');
        return rows.rows.map((r) => r.name);
      } finally {
        await client.end();
      }
    },
    cleanup: async () => {
      await store.close();
      await execPg(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

async function sqliteDb(): Promise<OrderDb> {
  const sqlite = BACKENDS.find((b) => b.name === 'sqlite');
  if (sqlite === undefined) throw new Error('no sqlite backend');
  const db = await sqlite.create();
  // BINARY is SQLite's default collation: a plain ORDER BY sorts by bytes already.
  return { store: db.store, plainOrder: async () => BYTE_ORDER, cleanup: () => db.cleanup() };
}

describe.each([
  { name: 'sqlite', open: sqliteDb, plain: BYTE_ORDER.slice(0, 4) },
  {
    name: 'postgres (en-US collation)',
    open: enUsPostgres,
    plain: ['_x', 'a.safetensors', 'B.safetensors', 'Z'],
  },
])('model file order on $name', ({ open, plain }) => {
  let db: OrderDb;
  beforeEach(async () => {
    db = await open();
    for (const name of NAMES) {
      const file = { name, kind: 'lora' as const, url: `s3://b/${name}`, sha256: 'a'.repeat(64), size: 1 };
      expect(await db.store.createModelFile(file, 1)).toBe(true);
    }
  });
  afterEach(async () => {
    await db.cleanup();
  });

  it('lists every file, and the files asked for, by name in code units', async () => {
    expect((await db.store.listModelFiles()).map((f) => f.name)).toEqual(BYTE_ORDER);
    expect((await db.store.listModelFiles([...NAMES].reverse())).map((f) => f.name)).toEqual(BYTE_ORDER);
  });

  it("lists a worker's refused prefetch files by name in code units", async () => {
    await registerWorker(db.store, 'w1', null);
    await db.store.setPrefetchRefused('w1', NAMES, 1_000, 0);
    expect((await db.store.listPrefetchRefused(['w1'], 0)).get('w1')).toEqual(BYTE_ORDER);
  });

  it('a plain ORDER BY follows the database collation (on Postgres here, not code units)', async () => {
    const ascii = (await db.plainOrder()).filter((n) => /^[\x20-\x7e]+$/.test(n));
    expect(ascii).toEqual(plain);
  });
});
