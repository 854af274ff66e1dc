/**
 * Who is calling: an account API key plus `X-User-ID`, or an account's end-user JWT (`sub` is the user).
 * Missing or invalid credentials → 401 `unauthorized`; a bad user id → 400 `invalid_user_id`.
 *
 * A key's last_used_at is bookkeeping, written at most once a minute in the background: it never delays nor
 * fails the request (a key verified from the cache is served while the database is down, and its failed writes
 * are logged once per outage).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { LRUCache } from 'lru-cache';
import { ApiError } from '../../errors.js';
import type { Account, ApiKeyRecord, ApiKeyScope } from '../../jobs/types.js';
import type { Store } from '../../store/contract.js';
import { Retry, SILENT_OUTAGE_LOG, type OutageLog } from '../../util/backoff.js';
import { USER_ID_PATTERN } from '../schemas.js';
import { parseApiKey, secretMatchesBytes, storedHashBytes } from './api-keys.js';
import { JwtVerifier } from './jwt.js';

export interface Principal {
  account: Account;
  userId: string;
  scopes: ReadonlySet<ApiKeyScope>;
  via: 'key' | 'jwt';
}

const ISSUER_CACHE_MS = 5000;
/**
 * A verified key and its account are reused this long, so a hot client does not cost two reads per request.
 * A revocation or account change on this replica drops the affected entries at once (that key, or that
 * account's keys: every other hot key stays cached); other replicas see it within this.
 */
const KEY_CACHE_MS = 2000;
const KEY_CACHE_MAX = 10_000;
/** last_used_at is written at most this often per key. */
const TOUCH_EVERY_MS = 60_000;

/** A key lookup in flight, and what was invalidated since it began: it must not cache what it read of those. */
interface KeyRead {
  keyId: string;
  /** Its key was invalidated meanwhile. */
  stale: boolean;
  /** Accounts invalidated meanwhile (the key's account is not known until its record is read). */
  accounts: Set<string>;
}

interface CachedKey {
  record: ApiKeyRecord;
  account: Account;
  /** The stored hash decoded once, and the scopes as the principal holds them (shared, never mutated). */
  hash: Buffer;
  scopes: ReadonlySet<ApiKeyScope>;
}

function bearer(headers: IncomingHttpHeaders): string {
  const value = headers.authorization;
  if (typeof value !== 'string')
    throw new ApiError('unauthorized', 'Send Authorization: Bearer <key or token>.');
  const m = /^Bearer\s+(\S+)\s*$/i.exec(value);
  if (m === null || m[1] === undefined)
    throw new ApiError('unauthorized', 'The Authorization header must be "Bearer <credential>".');
  return m[1];
}

function headerUserId(headers: IncomingHttpHeaders): string | null {
  const raw = headers['x-user-id'];
  if (raw === undefined) return null;
  if (typeof raw !== 'string' || !USER_ID_PATTERN.test(raw)) {
    throw new ApiError('invalid_user_id', 'X-User-ID must match ^[A-Za-z0-9._:@-]{1,128}$.');
  }
  return raw;
}

function jwtScopes(claim: unknown): Set<ApiKeyScope> {
  const scopes = new Set<ApiKeyScope>(['jobs:read', 'jobs:write']);
  const listed = typeof claim === 'string' ? claim.split(' ') : Array.isArray(claim) ? claim : [];
  if (listed.includes('workflows:raw')) scopes.add('workflows:raw');
  return scopes;
}

/** Resolves the principal of a job request; one instance per app (it caches issuer → accounts briefly). */
export class Authenticator {
  private readonly jwt: JwtVerifier;
  private issuerCache: { at: number; byIssuer: Map<string, Account[]> } | null = null;
  /** Least recently used keys go first when full; entries expire by the injected clock. */
  private readonly keyCache: LRUCache<string, CachedKey>;
  /**
   * Bumped by invalidateAccount(): a read of the accounts' JWT settings that began before an account change must
   * not put what it read into the issuer cache after it.
   */
  private generation = 0;
  /**
   * Key lookups in flight, told of each invalidation: a lookup that began before a key's revocation or its
   * account's change must not put what it read into the cache after it.
   */
  private readonly keyReads = new Set<KeyRead>();
  private stopped = false;
  /** Keys whose last_used_at write is in flight: one at a time per key, however slow the database is. */
  private readonly touching = new Set<string>();
  /** Logs the first failed last_used_at write of an outage, and the recovery: not one line per request. */
  private readonly touchOutage: Retry;

  constructor(
    private readonly store: Store,
    private readonly now: () => number = Date.now,
    jwtMaxLifetimeS?: number,
    keyCache: { max: number; ttlMs: number } = { max: KEY_CACHE_MAX, ttlMs: KEY_CACHE_MS },
    log: OutageLog = SILENT_OUTAGE_LOG,
  ) {
    this.touchOutage = new Retry("writing API keys' last_used_at", log);
    this.jwt = new JwtVerifier(jwtMaxLifetimeS, now);
    // ttlResolution 0: read the clock on every check (the default caches it for 1 ms of real time).
    this.keyCache = new LRUCache({ max: keyCache.max, ttl: keyCache.ttlMs, ttlResolution: 0, perf: { now } });
  }

  /** Forget one cached key (after its revocation on this replica); every other key stays cached. */
  invalidateKey(keyId: string): void {
    this.keyCache.delete(keyId);
    for (const read of this.keyReads) if (read.keyId === keyId) read.stale = true;
  }

  /**
   * Forget one account's cached keys and the accounts' JWT settings (after an account is created or changed on
   * this replica); other accounts' keys stay cached.
   */
  invalidateAccount(accountId: string): void {
    this.issuerCache = null;
    this.generation += 1;
    const keyIds: string[] = [];
    for (const [keyId, cached] of this.keyCache.entries()) {
      if (cached.account.id === accountId) keyIds.push(keyId);
    }
    for (const keyId of keyIds) this.keyCache.delete(keyId);
    for (const read of this.keyReads) read.accounts.add(accountId);
  }

  async authenticate(headers: IncomingHttpHeaders): Promise<Principal> {
    return await this.resolve(headers);
  }

  /**
   * authenticate() without a promise when it can: an API key found in the cache is checked synchronously (same
   * checks, same cache, same TTL). Throws the ApiError synchronously, or returns a promise that rejects with it.
   */
  resolve(headers: IncomingHttpHeaders): Principal | Promise<Principal> {
    const credential = bearer(headers);
    const key = parseApiKey(credential);
    if (key !== null) {
      const cached = this.keyCache.get(key.keyId);
      if (cached !== undefined) return this.viaKey(cached, key.secret, headers);
      return this.lookupKey(key.keyId).then((found) => this.viaKey(found, key.secret, headers));
    }
    if (credential.split('.').length === 3) return this.viaJwt(credential, headers);
    throw new ApiError('unauthorized', 'The credential is neither an Arrakis API key nor a JWT.');
  }

  private async lookupKey(keyId: string): Promise<CachedKey | null> {
    const read: KeyRead = { keyId, stale: false, accounts: new Set() };
    this.keyReads.add(read);
    try {
      const record = await this.store.getApiKey(keyId);
      const account = record === null ? null : await this.store.getAccount(record.accountId);
      if (record === null || account === null) {
        this.keyCache.delete(keyId);
        return null;
      }
      const entry = { record, account, hash: storedHashBytes(record.hash), scopes: new Set(record.scopes) };
      if (!read.stale && !read.accounts.has(record.accountId)) this.keyCache.set(keyId, entry);
      return entry;
    } finally {
      this.keyReads.delete(read);
    }
  }

  private viaKey(found: CachedKey | null, secret: string, headers: IncomingHttpHeaders): Principal {
    if (found === null || found.record.revokedAt !== null || !secretMatchesBytes(secret, found.hash)) {
      throw new ApiError('unauthorized', 'The API key is unknown or revoked.');
    }
    const userId = headerUserId(headers);
    if (userId === null) throw new ApiError('invalid_user_id', 'Send the acting end user in X-User-ID.');
    const principal: Principal = { account: found.account, userId, scopes: found.scopes, via: 'key' };
    const now = this.now();
    const { record } = found;
    if (record.lastUsedAt !== null && now - record.lastUsedAt < TOUCH_EVERY_MS) return principal;
    record.lastUsedAt = now;
    this.touch(record.id, now);
    return principal;
  }

  /**
   * Writes a key's last_used_at without anyone waiting for it. A failure (the database down) is logged once per
   * outage; the next write is due a minute later (the cached record keeps the time of this attempt), or sooner
   * when the key is read again from the store, which still holds the older time.
   */
  private touch(keyId: string, at: number): void {
    if (this.stopped || this.touching.has(keyId)) return;
    this.touching.add(keyId);
    void this.store.touchApiKey(keyId, at).then(
      () => {
        this.touching.delete(keyId);
        this.touchOutage.succeeded();
      },
      (err: unknown) => {
        this.touching.delete(keyId);
        // A write the closing store cut off is no outage.
        if (!this.stopped) this.touchOutage.failed(err, { keyId });
      },
    );
  }

  /** The API is closing (the store closes after it): no more last_used_at writes, and no outage logged. */
  stop(): void {
    this.stopped = true;
  }

  private async candidates(issuer: string): Promise<Account[]> {
    const now = this.now();
    if (this.issuerCache === null || now - this.issuerCache.at > ISSUER_CACHE_MS) {
      const generation = this.generation;
      const byIssuer = new Map<string, Account[]>();
      for (const account of await this.store.listAccounts()) {
        if (account.jwt === null) continue;
        byIssuer.set(account.jwt.issuer, [...(byIssuer.get(account.jwt.issuer) ?? []), account]);
      }
      if (generation === this.generation) this.issuerCache = { at: now, byIssuer };
      return byIssuer.get(issuer) ?? [];
    }
    return this.issuerCache.byIssuer.get(issuer) ?? [];
  }

  private async viaJwt(token: string, headers: IncomingHttpHeaders): Promise<Principal> {
    const issuer = JwtVerifier.unverifiedIssuer(token);
    if (issuer !== null) {
      for (const account of await this.candidates(issuer)) {
        const claims = await this.jwt.verify(token, account);
        if (claims === null) continue;
        const sub = claims.sub;
        if (typeof sub !== 'string' || !USER_ID_PATTERN.test(sub)) {
          throw new ApiError('invalid_user_id', 'The token subject is not a valid user id.');
        }
        const headerUser = headerUserId(headers);
        if (headerUser !== null && headerUser !== sub) {
          throw new ApiError('user_mismatch', 'X-User-ID differs from the token subject.');
        }
        return { account, userId: sub, scopes: jwtScopes(claims.scope), via: 'jwt' };
      }
    }
    throw new ApiError('unauthorized', 'The token is invalid, expired, or not issued for this API.');
  }
}

/** Throws 403 `insufficient_scope` unless the principal holds `scope`. */
export function requireScope(principal: Principal, scope: ApiKeyScope): void {
  if (!principal.scopes.has(scope)) {
    throw new ApiError('insufficient_scope', `This credential lacks the ${scope} scope.`, {
      required: scope,
    });
  }
}
