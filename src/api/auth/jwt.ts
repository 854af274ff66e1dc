/**
 * End-user JWTs signed by an account's own front end. The token's `iss` picks the candidate accounts;
 * each candidate verifies with its own key material, explicit algorithm allowlist, audience and issuer.
 * `exp` is required; 30 s of clock skew is tolerated. JWKS documents are fetched with a timeout and cached.
 */
import { createRemoteJWKSet, decodeJwt, jwtVerify, type JWTPayload } from 'jose';
import type { Account, AccountJwtConfig } from '../../jobs/types.js';

const CLOCK_SKEW_S = 30;

type KeySource = ReturnType<typeof createRemoteJWKSet> | Uint8Array;

/** Verifies end-user tokens; holds the per-account JWKS caches (one instance per app). */
export class JwtVerifier {
  private readonly jwks = new Map<string, ReturnType<typeof createRemoteJWKSet>>();

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
        key instanceof Uint8Array ? await jwtVerify(token, key, options) : await jwtVerify(token, key, options);
      return result.payload;
    } catch {
      return null;
    }
  }
}
