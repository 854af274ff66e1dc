/**
 * Account API keys: `ark_<key id>_<secret>`, a readable prefix, the key id (so lookup is by primary key,
 * not by secret) and 256 random bits. Only sha256(secret) is stored; comparison is constant-time.
 */
import { createHash, hash, randomBytes, timingSafeEqual } from 'node:crypto';

const KEY_PATTERN = /^ark_(key_[0-9a-z]{26})_([A-Za-z0-9_-]{43})$/;

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** A new secret for an existing key id; returns the full key (shown once) and the hash to store. */
export function mintApiKey(keyId: string): { key: string; hash: string } {
  const secret = randomBytes(32).toString('base64url');
  return { key: `ark_${keyId}_${secret}`, hash: hashSecret(secret) };
}

/** Splits a presented key into id and secret, or null when it is not shaped like an Arrakis key. */
export function parseApiKey(presented: string): { keyId: string; secret: string } | null {
  const m = KEY_PATTERN.exec(presented);
  if (m === null || m[1] === undefined || m[2] === undefined) return null;
  return { keyId: m[1], secret: m[2] };
}

/** A stored sha256 hex as bytes, decoded once per cached key (secretMatchesBytes compares against it). */
export function storedHashBytes(storedHash: string): Buffer {
  return Buffer.from(storedHash, 'hex');
}

/** secretMatches against the stored hash's bytes: one one-shot sha256, no hex round trips. */
export function secretMatchesBytes(secret: string, stored: Buffer): boolean {
  const presented = hash('sha256', secret, 'buffer');
  return presented.length === stored.length && timingSafeEqual(presented, stored);
}

/** Constant-time string comparison for the admin key. */
export function constantTimeEqual(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
