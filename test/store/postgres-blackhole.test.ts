/**
 * A Postgres host that stops answering on open connections (a partition, a failover, a dropped NAT entry): the
 * store sits behind a TCP proxy that turns into a blackhole mid-run. A verb then fails within the test's short
 * query timeout with StoreUnavailableError instead of waiting out TCP's retransmissions (~15 minutes); once the
 * proxy forwards again the one-connection pool works, so the silent connection was destroyed, not pooled again.
 * The API answers 503 `not_ready` meanwhile. A write whose reply is lost may have committed all the same; a retry
 * with its idempotency key finds it. Migrations have no such limit: one waits out another's lock.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi, type Api } from '../../src/api/app.js';
import type { Store } from '../../src/store/contract.js';
import { openMigratedStore, openStore } from '../../src/store/open.js';
import { StoreUnavailableError } from '../../src/store/unavailable.js';
import { apiDeps } from '../support/api-app.js';
import { startBlackholeProxy, type BlackholeProxy } from '../support/blackhole-proxy.js';
import { createTestDatabase } from '../support/pg.js';
import { jobInput, makeAccount } from './fixtures.js';

const QUERY_TIMEOUT_MS = 500;
/** Far below the ~15 minutes a dead connection costs without a query timeout: failing, not hanging. */
const TEST_TIMEOUT_MS = 20_000;
const ADMIN_KEY = 'blackhole-admin-key-0123456789';

describe('a Postgres host that stops answering', () => {
  let db: { url: string; drop(): Promise<void> };
  let proxy: BlackholeProxy;
  let store: Store;
  let dir: string;
  let api: Api;

  beforeAll(async () => {
    db = await createTestDatabase();
    proxy = await startBlackholeProxy(db.url);
    store = await openMigratedStore(proxy.url, { poolSize: 1, queryTimeoutMs: QUERY_TIMEOUT_MS });
    dir = mkdtempSync(join(tmpdir(), 'arrakis-blackhole-'));
    api = await buildApi(apiDeps(dir, store, { adminKey: ADMIN_KEY }));
  });

  afterAll(async () => {
    await api?.app.close();
    await proxy?.close();
    await store?.close();
    await db?.drop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it(
    'fails a read with StoreUnavailableError, and the pool works again once the host answers',
    async () => {
      const account = await makeAccount(store);
      proxy.blackhole(true);
      const during = store.getAccount(account.id);
      await expect(during).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(during).rejects.toThrow(/query timeout/);
      proxy.blackhole(false);
      expect((await store.getAccount(account.id))?.id).toBe(account.id);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'fails a write transaction the same way, keeps nothing of it, and writes again afterwards',
    async () => {
      const before = (await store.listAccounts()).length;
      proxy.blackhole(true);
      await expect(makeAccount(store)).rejects.toBeInstanceOf(StoreUnavailableError);
      proxy.blackhole(false);
      expect((await store.listAccounts()).length).toBe(before);
      await makeAccount(store);
      expect((await store.listAccounts()).length).toBe(before + 1);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'may have committed a write whose reply was lost, and a retry with its idempotency key finds it, once',
    async () => {
      const account = await makeAccount(store);
      const input = jobInput(account.id, 'u1', { idempotencyKey: 'order-42', requestHash: 'h' });
      // Admission is one autocommit statement on Postgres: the server runs and commits it, its answer is lost.
      proxy.muteReplies(true);
      const lost = store.admitJob(input, Date.now());
      await expect(lost).rejects.toBeInstanceOf(StoreUnavailableError);
      proxy.muteReplies(false);
      const retried = await store.admitJob(input, Date.now());
      expect(retried.kind).toBe('replayed');
      const { jobs } = await store.listJobs({ accountId: account.id, userId: 'u1', limit: 10 });
      expect(jobs.map((j) => j.id)).toEqual([retried.kind === 'replayed' ? retried.job.id : '']);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'answers an API request 503 not_ready with Retry-After meanwhile, and 200 after',
    async () => {
      const admin = { authorization: `Bearer ${ADMIN_KEY}` };
      expect(
        (await api.app.inject({ method: 'GET', url: '/v1/admin/accounts', headers: admin })).statusCode,
      ).toBe(200);
      proxy.blackhole(true);
      const during = await api.app.inject({ method: 'GET', url: '/v1/admin/accounts', headers: admin });
      proxy.blackhole(false);
      expect(during.statusCode).toBe(503);
      expect(during.headers['retry-after']).toBe('1');
      expect(during.json()).toMatchObject({ code: 'not_ready', status: 503 });
      const after = await api.app.inject({ method: 'GET', url: '/v1/admin/accounts', headers: admin });
      expect(after.statusCode).toBe(200);
    },
    TEST_TIMEOUT_MS,
  );
});

describe('migrations under a short query timeout', () => {
  it(
    'wait out another process holding the migration lock for longer than the timeout',
    async () => {
      const db = await createTestDatabase();
      const store = await openStore(db.url, { poolSize: 1, queryTimeoutMs: 200 });
      const other = new pg.Client({ connectionString: db.url });
      await other.connect();
      try {
        // The advisory lock every migrating Arrakis process takes first (src/store/migrator.ts).
        await other.query('BEGIN');
        await other.query('SELECT pg_advisory_xact_lock(7246010420)');
        const migrating = store.migrate();
        const outcome = migrating.then(
          () => 'applied',
          (err: unknown) => err,
        );
        // Five query timeouts pass with the migration waiting on the lock; then the other process commits.
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        await other.query('COMMIT');
        expect(await outcome).toBe('applied');
        expect((await store.migrate()).length).toBe(0);
      } finally {
        await other.end();
        await store.close();
        await db.drop();
      }
    },
    TEST_TIMEOUT_MS,
  );
});
