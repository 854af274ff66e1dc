/**
 * Which Postgres failures are outages (StoreUnavailableError, answered 503) and which are bugs, on a real server:
 * a bind that supplies the wrong number of parameters is answered with SQLSTATE 08P01 on a healthy connection,
 * so it must reach the caller as the server's own error (500, logged), and the connection keeps working.
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
