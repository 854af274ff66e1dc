/**
 * The verified-key cache of the Authenticator (lru-cache): entries live for their TTL on the injected clock,
 * `invalidateKey()` drops that key at once and `invalidateAccount()` that account's keys, and nothing else (every
 * other hot key is still served without a store read), and the cache is bounded (the least recently used key is
 * re-read). A cached key is checked without a promise (`resolve`), with the same checks and the same bound. A read
 * in flight when its key or account is invalidated (a key, the accounts' JWT settings) does not refill the cache
 * with what it read.
 */
import { SignJWT } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mintApiKey } from '../../src/api/auth/api-keys.js';
import { Authenticator } from '../../src/api/auth/authenticate.js';
import { ApiError } from '../../src/errors.js';
import { ALL_SCOPES, DEFAULT_LIMITS } from '../../src/jobs/types.js';
import { newId } from '../../src/util/ids.js';
import { BACKENDS, type TestDb } from '../store/backends.js';

const sqlite = BACKENDS.find((b) => b.name === 'sqlite');
if (sqlite === undefined) throw new Error('no sqlite backend');

let db: TestDb;
let clock = 1_000_000;
let accountId = '';

async function newAccount(name: string): Promise<string> {
  const account = await db.store.createAccount(
    {
      name,
      limits: DEFAULT_LIMITS,
      jwt: null,
      nodeAllowlist: null,
      allowedPools: null,
      webhookSecret: 'whsec_test',
    },
    clock,
  );
  return account.id;
}

beforeEach(async () => {
  db = await sqlite.create();
  clock = 1_000_000;
  accountId = await newAccount('cache');
});

afterEach(async () => {
  await db.cleanup();
});

async function newKey(account = accountId): Promise<{ id: string; key: string }> {
  const id = newId('key');
  const { key, hash } = mintApiKey(id);
  await db.store.createApiKey({ id, accountId: account, name: 'k', hash, scopes: [...ALL_SCOPES] }, clock);
  return { id, key };
}

/** The test store, counting the key reads the Authenticator makes (a cache miss is one getApiKey). */
function countingStore(): { store: typeof db.store; keyReads: () => number } {
  let reads = 0;
  const store = new Proxy(db.store, {
    get(target, prop, receiver) {
      if (prop !== 'getApiKey') return Reflect.get(target, prop, receiver) as unknown;
      return async (id: string) => {
        reads++;
        return await target.getApiKey(id);
      };
    },
  });
  return { store, keyReads: () => reads };
}

function headers(key: string): Record<string, string> {
  return { authorization: `Bearer ${key}`, 'x-user-id': 'alice' };
}

async function accepted(auth: Authenticator, key: string): Promise<boolean> {
  return await auth.authenticate(headers(key)).then(
    () => true,
    () => false,
  );
}

describe('API key cache', () => {
  it('serves a verified key for its TTL, then reads the store again', async () => {
    const auth = new Authenticator(db.store, () => clock, undefined, { max: 10, ttlMs: 2000 });
    const k = await newKey();
    expect(await accepted(auth, k.key)).toBe(true);
    await db.store.revokeApiKey(k.id, clock);
    clock += 1999;
    expect(await accepted(auth, k.key)).toBe(true);
    clock += 2;
    expect(await accepted(auth, k.key)).toBe(false);
  });

  it('invalidateKey() forgets the revoked key at once, and only it: other hot keys need no store read', async () => {
    const { store, keyReads } = countingStore();
    const auth = new Authenticator(store, () => clock, undefined, { max: 10, ttlMs: 60_000 });
    const otherAccount = await newAccount('other');
    const a = await newKey(); // key A of account X
    const a2 = await newKey(); // another key of account X
    const b = await newKey(otherAccount); // key B of account Y
    for (const k of [a, a2, b]) expect(await accepted(auth, k.key)).toBe(true);
    expect(keyReads()).toBe(3);
    await db.store.revokeApiKey(a.id, clock);
    expect(await accepted(auth, a.key)).toBe(true); // cached: this replica was not told yet
    auth.invalidateKey(a.id); // as DELETE /v1/admin/keys/{id} does after the revocation
    expect(await accepted(auth, a.key)).toBe(false);
    expect(keyReads()).toBe(4);
    expect(await accepted(auth, b.key)).toBe(true);
    expect(await accepted(auth, a2.key)).toBe(true);
    expect(keyReads()).toBe(4); // B (and X's other key) still came from the cache
  });

  it("invalidateAccount() forgets that account's keys (they are read again with the new account), no other", async () => {
    const { store, keyReads } = countingStore();
    const auth = new Authenticator(store, () => clock, undefined, { max: 10, ttlMs: 60_000 });
    const otherAccount = await newAccount('other');
    const a = await newKey();
    const b = await newKey(otherAccount);
    for (const k of [a, b]) expect(await accepted(auth, k.key)).toBe(true);
    expect(keyReads()).toBe(2);
    await db.store.updateAccount(accountId, { limits: { ...DEFAULT_LIMITS, max_active_jobs_per_user: 1 } });
    auth.invalidateAccount(accountId); // as PATCH /v1/admin/accounts/{id} does after the write
    const principal = await auth.authenticate(headers(a.key));
    expect(principal.account.limits.max_active_jobs_per_user).toBe(1);
    expect(keyReads()).toBe(3);
    expect(await accepted(auth, b.key)).toBe(true);
    expect(keyReads()).toBe(3);
  });

  it('is bounded: past `max` keys the least recently used one is evicted and re-read', async () => {
    const auth = new Authenticator(db.store, () => clock, undefined, { max: 2, ttlMs: 60_000 });
    const [a, b, c] = [await newKey(), await newKey(), await newKey()];
    for (const k of [a, b, c]) expect(await accepted(auth, k.key)).toBe(true);
    await db.store.revokeApiKey(a.id, clock);
    await db.store.revokeApiKey(c.id, clock);
    expect(await accepted(auth, c.key)).toBe(true); // still cached
    expect(await accepted(auth, a.key)).toBe(false); // evicted, so the revocation is seen
  });
});

function codeOf(err: unknown): string {
  return err instanceof ApiError ? err.code : String(err);
}

/** What resolve() gave: a principal at once, a principal later, or a refusal (thrown at once or later). */
async function resolved(auth: Authenticator, h: Record<string, string>): Promise<string> {
  try {
    const r = auth.resolve(h);
    if (!(r instanceof Promise)) return `sync ${r.userId}`;
    return await r.then(
      (p) => `async ${p.userId}`,
      (err: unknown) => `refused ${codeOf(err)}`,
    );
  } catch (err) {
    return `refused ${codeOf(err)}`;
  }
}

describe('API key cache, synchronous path', () => {
  it('answers a cached key without a promise, and refuses a wrong secret, a bad user or a revoked key as before', async () => {
    const auth = new Authenticator(db.store, () => clock, undefined, { max: 10, ttlMs: 2000 });
    const k = await newKey();
    expect(await resolved(auth, headers(k.key))).toBe('async alice'); // first use: read from the store
    expect(await resolved(auth, headers(k.key))).toBe('sync alice');
    const forged = `${k.key.slice(0, -1)}${k.key.endsWith('A') ? 'B' : 'A'}`;
    expect(await resolved(auth, headers(forged))).toBe('refused unauthorized');
    expect(await resolved(auth, { authorization: `Bearer ${k.key}` })).toBe('refused invalid_user_id');
    expect(await resolved(auth, { ...headers(k.key), 'x-user-id': 'a b' })).toBe('refused invalid_user_id');
    await db.store.revokeApiKey(k.id, clock);
    clock += 1999;
    expect(await resolved(auth, headers(k.key))).toBe('sync alice'); // within the documented bound
    clock += 2;
    expect(await resolved(auth, headers(k.key))).toBe('refused unauthorized');
    expect(await resolved(auth, headers(k.key))).toBe('refused unauthorized');
  });

  it('forgets a cached key on invalidateKey() and still records last use once a minute', async () => {
    const auth = new Authenticator(db.store, () => clock, undefined, { max: 10, ttlMs: 120_000 });
    const k = await newKey();
    const lastUsed = async (): Promise<number | null | undefined> =>
      (await db.store.getApiKey(k.id))?.lastUsedAt;
    expect(await resolved(auth, headers(k.key))).toBe('async alice');
    const firstUse = clock;
    await expect.poll(lastUsed).toBe(firstUse);
    clock += 59_999;
    expect(await resolved(auth, headers(k.key))).toBe('sync alice');
    expect(await lastUsed()).toBe(firstUse);
    clock += 1;
    // The touch is due: written in the background, the request does not wait for it.
    expect(await resolved(auth, headers(k.key))).toBe('sync alice');
    await expect.poll(lastUsed).toBe(clock);
    await db.store.revokeApiKey(k.id, clock);
    expect(await resolved(auth, headers(k.key))).toBe('sync alice');
    auth.invalidateKey(k.id);
    expect(await resolved(auth, headers(k.key))).toBe('refused unauthorized');
  });
});

describe('API key cache, a lookup in flight across an invalidation', () => {
  it('does not cache what it read before its key was revoked and invalidated', async () => {
    let gate: Promise<void> | null = null;
    let open = (): void => {};
    let reached = (): void => {};
    // The store answers getApiKey, then holds the answer until the test opens the gate.
    const store = new Proxy(db.store, {
      get(target, prop, receiver) {
        if (prop !== 'getApiKey') return Reflect.get(target, prop, receiver) as unknown;
        return async (id: string) => {
          const record = await target.getApiKey(id);
          if (gate !== null) {
            reached();
            await gate;
          }
          return record;
        };
      },
    });
    const auth = new Authenticator(store, () => clock, undefined, { max: 10, ttlMs: 60_000 });
    const k = await newKey();
    gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const atGate = new Promise<void>((resolve) => {
      reached = resolve;
    });
    const inFlight = resolved(auth, headers(k.key)); // reads the live key, then waits at the gate
    await atGate;
    await db.store.revokeApiKey(k.id, clock); // as the admin route does: revoke, then invalidateKey()
    auth.invalidateKey(k.id);
    gate = null;
    open();
    expect(await inFlight).toBe('async alice'); // began before the revocation
    expect(await resolved(auth, headers(k.key))).toBe('refused unauthorized');
  });
});

describe("API key cache, lookups in flight across an account's invalidation", () => {
  it("does not cache a key of the changed account read before the change, but caches another account's", async () => {
    const otherAccount = await newAccount('other');
    const a = await newKey();
    const b = await newKey(otherAccount);
    let reads = 0;
    let gate: Promise<void> | null = null;
    let open = (): void => {};
    let arrived = 0;
    let bothReached = (): void => {};
    // The store answers getAccount, then holds the answer until the test opens the gate.
    const store = new Proxy(db.store, {
      get(target, prop, receiver) {
        if (prop === 'getApiKey') {
          return async (id: string) => {
            reads++;
            return await target.getApiKey(id);
          };
        }
        if (prop !== 'getAccount') return Reflect.get(target, prop, receiver) as unknown;
        return async (id: string) => {
          const account = await target.getAccount(id);
          if (gate !== null && ++arrived === 2) bothReached();
          if (gate !== null) await gate;
          return account;
        };
      },
    });
    const auth = new Authenticator(store, () => clock, undefined, { max: 10, ttlMs: 60_000 });
    gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const atGate = new Promise<void>((resolve) => {
      bothReached = resolve;
    });
    const inFlight = [resolved(auth, headers(a.key)), resolved(auth, headers(b.key))];
    await atGate; // both read their account as it was
    await db.store.updateAccount(accountId, { limits: { ...DEFAULT_LIMITS, max_active_jobs_per_user: 1 } });
    auth.invalidateAccount(accountId);
    gate = null;
    open();
    expect(await Promise.all(inFlight)).toEqual(['async alice', 'async alice']); // began before the change
    expect(reads).toBe(2);
    const principal = await auth.authenticate(headers(a.key));
    expect(principal.account.limits.max_active_jobs_per_user).toBe(1); // read again, not the old account
    expect(reads).toBe(3);
    expect(await resolved(auth, headers(b.key))).toBe('sync alice'); // the other account's key was cached
    expect(reads).toBe(3);
  });
});

describe('account JWT settings, a read in flight across an invalidation', () => {
  it('does not cache the settings it read before an admin change invalidated its account', async () => {
    const secret = 'a-shared-secret-that-is-long-enough-1234';
    await db.store.updateAccount(accountId, {
      jwt: { issuer: 'https://hs.example', audience: 'arrakis', algorithms: ['HS256'], secret },
    });
    const token = await new SignJWT({ iss: 'https://hs.example', aud: 'arrakis', sub: 'dave' })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(secret));
    let gate: Promise<void> | null = null;
    let open = (): void => {};
    let reached = (): void => {};
    // The store answers listAccounts, then holds the answer until the test opens the gate.
    const store = new Proxy(db.store, {
      get(target, prop, receiver) {
        if (prop !== 'listAccounts') return Reflect.get(target, prop, receiver) as unknown;
        return async () => {
          const accounts = await target.listAccounts();
          if (gate !== null) {
            reached();
            await gate;
          }
          return accounts;
        };
      },
    });
    const auth = new Authenticator(store); // the real clock: the token's exp is checked against it
    gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const atGate = new Promise<void>((resolve) => {
      reached = resolve;
    });
    const inFlight = resolved(auth, { authorization: `Bearer ${token}` });
    await atGate;
    await db.store.updateAccount(accountId, { jwt: null }); // as the admin PATCH does, then invalidateAccount()
    auth.invalidateAccount(accountId);
    gate = null;
    open();
    expect(await inFlight).toBe('async dave'); // began before the change
    expect(await resolved(auth, { authorization: `Bearer ${token}` })).toBe('refused unauthorized');
  });
});

describe('the last_used_at write at shutdown', () => {
  it('a write the closing store cuts off after stop() is not logged as an outage, and none starts after it', async () => {
    const { key } = await newKey();
    let fail: (err: Error) => void = () => {};
    let touches = 0;
    const store = new Proxy(db.store, {
      get(target, prop, receiver) {
        if (prop !== 'touchApiKey') return Reflect.get(target, prop, receiver) as unknown;
        return () => {
          touches++;
          return new Promise<void>((_resolve, reject) => {
            fail = reject;
          });
        };
      },
    });
    const warnings: string[] = [];
    const log = { warn: (_d: Record<string, unknown>, message: string) => warnings.push(message) };
    const auth = new Authenticator(store, () => clock, undefined, undefined, log);
    const headers = { authorization: `Bearer ${key}`, 'x-user-id': 'alice' };
    await auth.authenticate(headers);
    expect(touches).toBe(1);
    auth.stop();
    fail(new Error('the store is closed'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(warnings).toEqual([]);
    clock += 120_000;
    await auth.authenticate(headers);
    expect(touches).toBe(1);
  });
});
