import { describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase } from './support/pg.js';

describe('test harness', () => {
  it('reaches the Postgres started for the run', async () => {
    const db = await createTestDatabase();
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    const r = await c.query('select 1 + 1 as two');
    await c.end();
    await db.drop();
    expect(r.rows[0]).toEqual({ two: 2 });
  });
});
