/**
 * A Postgres that refuses a connection for now: SQLSTATE 53300 (too_many_connections, both "too many clients
 * already" and "too many connections for role"). The store runs as a role created with CONNECTION LIMIT 1 and
 * another client holds that one slot, so the pool's connect is refused. A verb then fails with
 * StoreUnavailableError (not a raw DatabaseError, which the API answers 500), the API answers 503 `not_ready` with
 * Retry-After, and once the slot is free the same store works again.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildApi, type Api } from '../../src/api/app.js';
import type { Store } from '../../src/store/contract.js';
import { openMigratedStore, openStore } from '../../src/store/open.js';
import { StoreUnavailableError } from '../../src/store/unavailable.js';
import { apiDeps } from '../support/api-app.js';
import { createTestDatabase, execPg } from '../support/pg.js';
import { until } from '../support/until.js';

const ADMIN_KEY = 'connection-limit-admin-key-0123456789';

describe('a Postgres that refuses connections for a role at its CONNECTION LIMIT (53300)', () => {
  const role = `r_${randomBytes(6).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  let db: { url: string; drop(): Promise<void> };
  let roleUrl: string;
  /** A client of the role's own, holding its one connection slot. */
  let holder: pg.Client;
  let store: Store;
  let dir: string;
  let api: Api;

  beforeAll(async () => {
    db = await createTestDatabase();
    const admin = await openMigratedStore(db.url, { poolSize: 1 });
    await admin.close();
    await execPg(
      db.url,
      `CREATE ROLE ${role} LOGIN PASSWORD '${password}' CONNECTION LIMIT 1;
       GRANT ALL ON ALL TABLES IN SCHEMA public TO ${role};
       GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO ${role};`,
    );
    const url = new URL(db.url);
    url.username = role;
    url.password = password;
    roleUrl = url.toString();
    holder = new pg.Client({ connectionString: roleUrl });
    await holder.connect();
    // Opening connects nothing: the first verb's connect is the one refused.
    store = await openStore(roleUrl, { poolSize: 1 });
    dir = mkdtempSync(join(tmpdir(), 'arrakis-conn-limit-'));
    api = await buildApi(apiDeps(dir, store, { adminKey: ADMIN_KEY }));
  });

  afterAll(async () => {
    await api?.app.close();
    await holder?.end().catch(() => {});
    await store?.close();
    await db?.drop();
    // Roles belong to the server, not the database: drop it there, once its grants went with the database.
    await execPg(inject('pgAdminUrl'), `DROP ROLE IF EXISTS ${role}`);
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('fails a store verb with StoreUnavailableError naming the refusal', async () => {
    const during = store.listAccounts();
    await expect(during).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(during).rejects.toThrow(/too many connections for role/);
  });

  it('answers an API request 503 not_ready with Retry-After, and 200 once the slot is free', async () => {
    const admin = { authorization: `Bearer ${ADMIN_KEY}` };
    const during = await api.app.inject({ method: 'GET', url: '/v1/admin/accounts', headers: admin });
    expect(during.statusCode).toBe(503);
    expect(during.headers['retry-after']).toBe('1');
    expect(during.json()).toMatchObject({ code: 'not_ready', status: 503 });
    await holder.end();
    // The server frees the slot when the holder's backend exits, a moment after the client hung up.
    const after = await until(
      'the API answers once the slot is free',
      async () =>
        (await api.app.inject({ method: 'GET', url: '/v1/admin/accounts', headers: admin })).statusCode,
      (status) => status === 200,
      10_000,
    );
    expect(after).toBe(200);
  });
});
