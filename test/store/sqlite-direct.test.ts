/**
 * The SQLite driver's synchronous path (direct.ts): on a free connection a statement runs before the call
 * returns; behind a holder (a Kysely transaction) callers still run in arrival order, and a failure rejects
 * and frees the connection.
 */
import Database from 'better-sqlite3';
import { Kysely, SqliteAdapter, SqliteIntrospector, SqliteQueryCompiler, sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ImmediateSqliteDriver } from '../../src/store/sqlite/sqlite-driver.js';

let raw: Database.Database;
let driver: ImmediateSqliteDriver;
let db: Kysely<Record<string, never>>;

beforeEach(() => {
  raw = new Database(':memory:');
  raw.exec('CREATE TABLE t (v TEXT NOT NULL)');
  driver = new ImmediateSqliteDriver(raw);
  db = new Kysely({
    dialect: {
      createAdapter: () => new SqliteAdapter(),
      createDriver: () => driver,
      createIntrospector: (k) => new SqliteIntrospector(k),
      createQueryCompiler: () => new SqliteQueryCompiler(),
    },
  });
});

afterEach(async () => {
  await db.destroy();
});

function values(): string[] {
  return raw
    .prepare('SELECT v FROM t ORDER BY rowid')
    .all()
    .map((r) => String((r as { v: unknown }).v));
}

describe('SQLite direct statements', () => {
  it('run before the call returns when the connection is free', async () => {
    const pending = driver.direct.query('INSERT INTO t (v) VALUES (?)', ['now']);
    expect(values()).toEqual(['now']);
    await pending;
    const read = driver.direct.read((exec) => exec('SELECT count(*) AS n FROM t', []));
    await expect(read).resolves.toEqual([{ n: 1 }]);
  });

  it('wait behind a transaction that holds the connection, in arrival order', async () => {
    let release = (): void => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    const order: string[] = [];
    const tx = db.transaction().execute(async (t) => {
      await sql`INSERT INTO t (v) VALUES ('tx')`.execute(t);
      await held;
    });
    await new Promise((resolve) => setTimeout(resolve, 10)); // the transaction holds the connection now
    const q = driver.direct.query('INSERT INTO t (v) VALUES (?)', ['query']).then(() => order.push('query'));
    const w = driver.direct
      .write((exec) => exec('INSERT INTO t (v) VALUES (?)', ['write']))
      .then(() => order.push('write'));
    const k = sql`INSERT INTO t (v) VALUES ('kysely')`.execute(db).then(() => order.push('kysely'));
    expect(values()).toEqual(['tx']); // nothing ran past the open transaction
    release();
    await Promise.all([tx, q, w, k]);
    expect(order).toEqual(['query', 'write', 'kysely']);
    expect(values()).toEqual(['tx', 'query', 'write', 'kysely']);
  });

  it('reject a failing statement or write, roll the write back and free the connection', async () => {
    await expect(driver.direct.query('SELECT nope FROM t', [])).rejects.toThrow(/no such column/);
    const failing = driver.direct.write((exec) => {
      exec('INSERT INTO t (v) VALUES (?)', ['rolled back']);
      throw new Error('refused');
    });
    await expect(failing).rejects.toThrow('refused');
    expect(raw.inTransaction).toBe(false);
    await driver.direct.query('INSERT INTO t (v) VALUES (?)', ['after']);
    expect(values()).toEqual(['after']);
  });
});
