/**
 * End-user JWTs signed by an account's own front end. The token's `iss` picks the candidate accounts;
 * each candidate verifies with its own key material, explicit algorithm allowlist, audience and issuer.
 * `exp` is required; 30 s of clock skew is tolerated. JWKS documents are fetched with a timeout and cached.
 * A token may not claim to live longer than the configured maximum (`exp - iat`, or `exp - now` without
 * `iat`): a leaked token with `exp` in the year 9999 (or 1e308) would otherwise be a permanent credential.
 */
import { createRemoteJWKSet, decodeJwt, jwtVerify, type JWTPayload } from 'jose';
import type { Account, AccountJwtConfig } from '../../jobs/types.js';

const CLOCK_SKEW_S = 30;
/** Default for `--jwt-max-lifetime-s`. */
export const DEFAULT_JWT_MAX_LIFETIME_S = 86_400;

type KeySource = ReturnType<typeof createRemoteJWKSet> | Uint8Array;

/** Verifies end-user tokens; holds the per-account JWKS caches (one instance per app). */
export class JwtVerifier {
  private readonly jwks = new Map<string, ReturnType<typeof createRemoteJWKSet>>();

  constructor(
    private readonly maxLifetimeS: number = DEFAULT_JWT_MAX_LIFETIME_S,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * True when the verified claims stay within the maximum lifetime. `iat` in the future (beyond skew) is
   * refused too, or `iat` = `exp` = 1e308 would pass `exp - iat` and never expire.
   */
  private lifetimeAllowed(claims: JWTPayload): boolean {
    const { exp, iat } = claims;
    if (typeof exp !== 'number' || !Number.isFinite(exp)) return false;
    const nowS = this.now() / 1000;
    if (exp - nowS > this.maxLifetimeS + CLOCK_SKEW_S) return false;
    if (iat === undefined) return true;
    return Number.isFinite(iat) && iat <= nowS + CLOCK_SKEW_S && exp - iat <= this.maxLifetimeS;
  }

  private keyFor(config: AccountJwtConfig): KeySource | null {
    if (config.secret !== undefined) return new TextEncoder().encode(config.secret);
    if (config.jwks_url === undefined) return null;
    let set = this.jwks.get(config.jwks_url);
    if (set === undefined) {
      set = createRemoteJWKSet(new URL(config.jwks_url), {
        timeoutDuration: 5000,
        cooldownDuration: 30_000,
        cacheMaxAge: 10 * 60_000,
      });
      this.jwks.set(config.jwks_url, set);
    }
    return set;
  }

  /** The token's claimed issuer, read without verification (only to choose candidate accounts). */
  static unverifiedIssuer(token: string): string | null {
    try {
      const claims = decodeJwt(token);
      return typeof claims.iss === 'string' ? claims.iss : null;
    } catch {
      return null;
    }
  }

  /** The verified claims when `token` is valid for `account`, else null. */
  async verify(token: string, account: Account): Promise<JWTPayload | null> {
    const config = account.jwt;
    if (config === null) return null;
    const key = this.keyFor(config);
    if (key === null) return null;
    const options = {
      issuer: config.issuer,
      audience: config.audience,
      algorithms: config.algorithms,
      clockTolerance: CLOCK_SKEW_S,
      requiredClaims: ['exp', 'sub'],
    };
    try {
      const result =
        key instanceof Uint8Array
          ? await jwtVerify(token, key, options)
          : await jwtVerify(token, key, options);
      return this.lifetimeAllowed(result.payload) ? result.payload : null;
    } catch {
      return null;
    }
  }
}
