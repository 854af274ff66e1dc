/**
 * The verified-key cache of the Authenticator (lru-cache): entries live for their TTL on the injected clock,
 * `invalidate()` drops them at once, and the cache is bounded (the least recently used key is re-read).
 * A cached key is checked without a promise (`resolve`), with the same checks and the same bound. A read in
 * flight when `invalidate()` runs (a key, the accounts' JWT settings) does not refill the cache with what it read.
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

beforeEach(async () => {
  db = await sqlite.create();
  clock = 1_000_000;
  const account = await db.store.createAccount(
    {
      name: 'cache',
      limits: DEFAULT_LIMITS,
      jwt: null,
      nodeAllowlist: null,
      allowedPools: null,
      webhookSecret: 'whsec_test',
    },
    clock,
  );
  accountId = account.id;
});

afterEach(async () => {
  await db.cleanup();
});

async function newKey(): Promise<{ id: string; key: string }> {
  const id = newId('key');
  const { key, hash } = mintApiKey(id);
  await db.store.createApiKey({ id, accountId, name: 'k', hash, scopes: [...ALL_SCOPES] }, clock);
  return { id, key };
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

  it('invalidate() forgets every cached key at once', async () => {
    const auth = new Authenticator(db.store, () => clock, undefined, { max: 10, ttlMs: 60_000 });
    const k = await newKey();
    expect(await accepted(auth, k.key)).toBe(true);
    await db.store.revokeApiKey(k.id, clock);
    expect(await accepted(auth, k.key)).toBe(true);
    auth.invalidate();
    expect(await accepted(auth, k.key)).toBe(false);
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

  it('forgets a cached key on invalidate() and still records last use once a minute', async () => {
    const auth = new Authenticator(db.store, () => clock, undefined, { max: 10, ttlMs: 120_000 });
    const k = await newKey();
    expect(await resolved(auth, headers(k.key))).toBe('async alice');
    expect((await db.store.getApiKey(k.id))?.lastUsedAt).toBe(clock);
    const firstUse = clock;
    clock += 59_999;
    expect(await resolved(auth, headers(k.key))).toBe('sync alice');
    expect((await db.store.getApiKey(k.id))?.lastUsedAt).toBe(firstUse);
    clock += 1;
    expect(await resolved(auth, headers(k.key))).toBe('async alice'); // the touch is due: written first
    expect((await db.store.getApiKey(k.id))?.lastUsedAt).toBe(clock);
    await db.store.revokeApiKey(k.id, clock);
    expect(await resolved(auth, headers(k.key))).toBe('sync alice');
    auth.invalidate();
    expect(await resolved(auth, headers(k.key))).toBe('refused unauthorized');
  });
});

describe('API key cache, a lookup in flight across an invalidation', () => {
  it('does not cache what it read before a revocation cleared the cache', async () => {
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
    await db.store.revokeApiKey(k.id, clock); // as the admin route does: revoke, then invalidate()
    auth.invalidate();
    gate = null;
    open();
    expect(await inFlight).toBe('async alice'); // began before the revocation
    expect(await resolved(auth, headers(k.key))).toBe('refused unauthorized');
  });
});

describe('account JWT settings, a read in flight across an invalidation', () => {
  it('does not cache the settings it read before an admin change cleared the cache', async () => {
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
    await db.store.updateAccount(accountId, { jwt: null }); // as the admin PATCH does, then invalidate()
    auth.invalidate();
    gate = null;
    open();
    expect(await inFlight).toBe('async dave'); // began before the change
    expect(await resolved(auth, { authorization: `Bearer ${token}` })).toBe('refused unauthorized');
  });
});
