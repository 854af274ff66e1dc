/**
 * The API while its Postgres host stops answering (a TCP proxy turned blackhole, test/support/blackhole-proxy.ts;
 * a 500 ms query timeout turns the silence into StoreUnavailableError). An API key verified from the cache is
 * still accepted: its once-a-minute last_used_at write runs in the background, one at a time per key, and its
 * failures are logged once per outage, not per request. A submission answered 503 because the database did not
 * answer costs no submit-rate token: after the outage the user still has their whole burst.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../../src/api/app.js';
import { mintApiKey } from '../../src/api/auth/api-keys.js';
import { Authenticator } from '../../src/api/auth/authenticate.js';
import { ALL_SCOPES } from '../../src/jobs/types.js';
import type { Store } from '../../src/store/contract.js';
import { openMigratedStore } from '../../src/store/open.js';
import { newId } from '../../src/util/ids.js';
import { apiDeps } from '../support/api-app.js';
import { startBlackholeProxy, type BlackholeProxy } from '../support/blackhole-proxy.js';
import { createTestDatabase } from '../support/pg.js';
import { makeAccount } from '../store/fixtures.js';
import { invertWorkflow } from '../support/server.js';

const QUERY_TIMEOUT_MS = 500;
const TEST_TIMEOUT_MS = 20_000;

describe('a Postgres host that stops answering', () => {
  let db: { url: string; drop(): Promise<void> };
  let proxy: BlackholeProxy;
  let store: Store;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'arrakis-store-outage-'));
    db = await createTestDatabase();
    proxy = await startBlackholeProxy(db.url);
    store = await openMigratedStore(proxy.url, { poolSize: 2, queryTimeoutMs: QUERY_TIMEOUT_MS });
  });

  afterAll(async () => {
    await proxy?.close();
    await store?.close();
    await db?.drop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  /** A new API key (every scope) of `accountId`. */
  async function newKey(accountId: string): Promise<{ keyId: string; key: string }> {
    const keyId = newId('key');
    const { key, hash } = mintApiKey(keyId);
    await store.createApiKey({ id: keyId, accountId, name: 'k', hash, scopes: [...ALL_SCOPES] }, 1);
    return { keyId, key };
  }

  it(
    'accepts a cached API key meanwhile, writing its last_used_at in the background and logging once',
    async () => {
      const account = await makeAccount(store);
      const keyId = newId('key');
      const { key, hash } = mintApiKey(keyId);
      await store.createApiKey(
        { id: keyId, accountId: account.id, name: 'k', hash, scopes: [...ALL_SCOPES] },
        1,
      );
      // The store as the Authenticator sees it, counting its last_used_at writes and their ends.
      let touches = 0;
      let touchesEnded = 0;
      const counted = new Proxy(store, {
        get(target, prop, receiver) {
          if (prop !== 'touchApiKey') return Reflect.get(target, prop, receiver) as unknown;
          return async (id: string, at: number) => {
            touches++;
            try {
              await target.touchApiKey(id, at);
            } finally {
              touchesEnded++;
            }
          };
        },
      });
      const warnings: string[] = [];
      const recoveries: string[] = [];
      const log = {
        warn: (_details: Record<string, unknown>, message: string) => warnings.push(message),
        info: (_details: Record<string, unknown>, message: string) => recoveries.push(message),
      };
      let clock = 1_000_000;
      const auth = new Authenticator(counted, () => clock, undefined, { max: 10, ttlMs: 3_600_000 }, log);
      const headers = { authorization: `Bearer ${key}`, 'x-user-id': 'alice' };
      const lastUsed = async (): Promise<number | null | undefined> =>
        (await store.getApiKey(keyId))?.lastUsedAt;

      expect((await auth.authenticate(headers)).account.id).toBe(account.id);
      await expect.poll(lastUsed).toBe(clock);

      proxy.blackhole(true);
      // Two requests a minute apart while the first one's write still waits for the silent database: both are
      // accepted at once, and the second starts no second write for the key.
      clock += 60_000;
      expect((await auth.authenticate(headers)).userId).toBe('alice');
      clock += 60_000;
      expect((await auth.authenticate(headers)).userId).toBe('alice');
      expect(touches).toBe(2);
      await expect.poll(() => touchesEnded, { timeout: 5_000 }).toBe(2);
      expect(warnings).toHaveLength(1);
      // The next minute's write fails too: still one warning for the whole outage.
      clock += 60_000;
      expect((await auth.authenticate(headers)).userId).toBe('alice');
      await expect.poll(() => touchesEnded, { timeout: 5_000 }).toBe(3);
      expect(warnings).toHaveLength(1);
      expect(recoveries).toHaveLength(0);

      proxy.blackhole(false);
      clock += 60_000;
      expect((await auth.authenticate(headers)).userId).toBe('alice');
      await expect.poll(lastUsed, { timeout: 5_000 }).toBe(clock);
      expect(recoveries).toHaveLength(1);
      expect(warnings).toHaveLength(1);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'charges no submit-rate token for a submission answered 503: the user keeps their whole burst',
    async () => {
      // A burst of 3 that does not refill within the test.
      const limits = { submit_rate_per_user: 0.001, submit_burst_per_user: 3, max_active_jobs_per_user: 100 };
      const account = await makeAccount(store, limits);
      const { key } = await newKey(account.id);
      // The database stops answering just as an admission is sent, and answers again once it has failed.
      let outage = false;
      const timedOutage = new Proxy(store, {
        get(target, prop, receiver) {
          if (prop !== 'admitJob') return Reflect.get(target, prop, receiver) as unknown;
          return async (...args: Parameters<Store['admitJob']>) => {
            proxy.blackhole(outage);
            try {
              return await target.admitJob(...args);
            } finally {
              proxy.blackhole(false);
            }
          };
        },
      });
      const api = await buildApi(apiDeps(dir, timedOutage, {}));
      try {
        const submit = async (idempotencyKey: string) => {
          const res = await api.app.inject({
            method: 'POST',
            url: '/v1/jobs',
            headers: {
              authorization: `Bearer ${key}`,
              'x-user-id': 'alice',
              'idempotency-key': idempotencyKey,
            },
            payload: { workflow: invertWorkflow() },
          });
          return { status: res.statusCode, code: (res.json() as { code?: string }).code };
        };
        outage = true;
        expect(await submit('order-1')).toEqual({ status: 503, code: 'not_ready' });
        expect(await submit('order-1')).toEqual({ status: 503, code: 'not_ready' });
        outage = false;
        // The retry with the same key, and two more: the whole burst of 3; the fourth is over it.
        expect(await submit('order-1')).toEqual({ status: 202, code: undefined });
        expect(await submit('order-2')).toEqual({ status: 202, code: undefined });
        expect(await submit('order-3')).toEqual({ status: 202, code: undefined });
        expect(await submit('order-4')).toEqual({ status: 429, code: 'rate_limited' });
      } finally {
        await api.app.close();
      }
    },
    TEST_TIMEOUT_MS,
  );
});
