import { randomBytes } from 'node:crypto';

const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz';

function encodeTime(ms: number): string {
  let out = '';
  let rest = ms;
  for (let i = 0; i < 10; i++) {
    out = CROCKFORD.charAt(rest % 32) + out;
    rest = Math.floor(rest / 32);
  }
  return out;
}

function encodeRandom(chars: number): string {
  const bytes = randomBytes(chars);
  let out = '';
  for (const b of bytes) out += CROCKFORD.charAt(b % 32);
  return out;
}

/**
 * A prefixed, time-sortable identifier such as `job_01jc2k3m4n5p6q7r8s9t0v1w2x`:
 * 10 characters of millisecond time then 16 random ones (80 bits), so ids sort by creation.
 */
export function newId(prefix: string, now: number = Date.now()): string {
  return `${prefix}_${encodeTime(now)}${encodeRandom(16)}`;
}
