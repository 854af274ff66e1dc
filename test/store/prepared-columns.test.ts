/**
 * The hot statements run as named prepared statements on Postgres (open-postgres.ts), and Postgres refuses to
 * run one whose result columns changed since it was prepared ("cached plan must not change result type"). A
 * statement that selects `*` from a table would then fail on every connection that prepared it, once a newer
 * replica's migration adds a column to that table during a rolling upgrade: each names its columns instead.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BACKENDS, type TestDb } from './backends.js';
import { makeAccount } from './fixtures.js';

describe.each(BACKENDS)('prepared reads on $name', (backend) => {
  let db: TestDb;
  beforeEach(async () => {
    // One connection, so the second read runs on the connection that prepared the first.
    db = await backend.create({ poolSize: 1 });
  });
  afterEach(async () => {
    await db.cleanup();
  });

  it('getAccount still reads an account after a column was added to accounts', async () => {
    const account = await makeAccount(db.store);
    expect((await db.store.getAccount(account.id))?.id).toBe(account.id);
    await db.exec('ALTER TABLE accounts ADD COLUMN added_later INTEGER');
    expect(await db.store.getAccount(account.id)).toEqual(await db.store.getAccount(account.id));
    expect((await db.store.getAccount(account.id))?.name).toBe(account.name);
  });
});
