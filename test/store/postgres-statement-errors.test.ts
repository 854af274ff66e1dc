/**
 * Which Postgres failures are outages (StoreUnavailableError, answered 503) and which are bugs, on a real server:
 * a bind that supplies the wrong number of parameters is answered with SQLSTATE 08P01 on a healthy connection,
 * so it must reach the caller as the server's own error (500, logged), and the connection keeps working. A
 * statement the client's query timeout abandoned does not run on in the server (it would hold its backend and
 * locks, and an autocommit write would still commit for a caller told it failed), nor does a transaction whose
 * client went silent between statements keep its locks.
 */
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgres } from '../../src/store/postgres/open-postgres.js';
import { StoreUnavailableError } from '../../src/store/unavailable.js';
import { createTestDatabase } from '../support/pg.js';

const NAMED = 'SELECT $1::int + $2::int AS x';

describe('Postgres statement errors', () => {
  let db: { url: string; drop(): Promise<void> };

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('a statement the query timeout abandoned is ended by the server too', async () => {
    const kysely = openPostgres(db.url, 1, [], { queryTimeoutMs: 300 });
    const watcher = new pg.Client({ connectionString: db.url });
    await watcher.connect();
    try {
      await expect(sql`SELECT pg_sleep(30)`.execute(kysely)).rejects.toBeInstanceOf(StoreUnavailableError);
      const running = async (): Promise<number> =>
        (
          await watcher.query(
            `SELECT 1 FROM pg_stat_activity WHERE state = 'active' AND query = 'SELECT pg_sleep(30)'`,
          )
        ).rowCount ?? 0;
      // Well before the 30 s the statement asks for: the server ended it.
      await expect.poll(running, { timeout: 10_000, interval: 100 }).toBe(0);
    } finally {
      await watcher.end();
      await kysely.destroy();
    }
  }, 20_000);

  it('a transaction whose client went silent between statements is ended by the server, its locks freed', async () => {
    const kysely = openPostgres(db.url, 1, [], { queryTimeoutMs: 300 });
    const other = new pg.Client({ connectionString: db.url });
    await other.connect();
    let resume: () => void = () => {};
    const silent = new Promise<void>((resolve) => (resume = resolve));
    let locked: () => void = () => {};
    const holding = new Promise<void>((resolve) => (locked = resolve));
    try {
      // The client takes a lock in a transaction, then sends nothing more (a partitioned replica, as the server
      // sees it): Postgres does not notice a dropped client between statements either.
      const tx = kysely.transaction().execute(async (t) => {
        await sql`SELECT pg_advisory_xact_lock(4242)`.execute(t);
        locked();
        await silent;
        await sql`SELECT 1`.execute(t);
      });
      tx.catch(() => {});
      await holding;
      const lockable = async (): Promise<boolean> =>
        (await other.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock(4242) AS ok')).rows[0]?.ok ===
        true;
      await expect.poll(lockable, { timeout: 10_000, interval: 100 }).toBe(true);
      resume();
      // Its session is gone: the transaction's next statement is an outage, not a silent success.
      await expect(tx).rejects.toBeInstanceOf(StoreUnavailableError);
    } finally {
      resume();
      await other.end();
      await kysely.destroy();
    }
  }, 20_000);

  it('a bind with the wrong parameter count is the server error 08P01, not an outage', async () => {
    const kysely = openPostgres(db.url, 1, [NAMED]);
    try {
      const failing = sql.raw(NAMED).execute(kysely);
      await expect(failing).rejects.toBeInstanceOf(pg.DatabaseError);
      await expect(failing).rejects.not.toBeInstanceOf(StoreUnavailableError);
      await expect(failing).rejects.toMatchObject({ code: '08P01' });
      // The one pooled connection was not dropped as dead: the next statement runs on it.
      const { rows } = await sql<{ x: number }>`SELECT 2 AS x`.execute(kysely);
      expect(rows[0]?.x).toBe(2);
    } finally {
      await kysely.destroy();
    }
  });
});
