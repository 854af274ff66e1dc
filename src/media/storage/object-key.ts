/**
 * Object keys are relative, slash-separated paths of ordinary segments. Validating them in one place
 * means no backend can be asked to write outside its root (`..`, absolute paths, backslashes, NUL).
 */

const MAX_KEY_LENGTH = 1024;

export class InvalidKeyError extends Error {
  constructor(key: string, why: string) {
    super(`invalid object key ${JSON.stringify(key)}: ${why}`);
    this.name = 'InvalidKeyError';
  }
}

function problem(key: string, allowTrailingSlash: boolean): string | null {
  if (key.length === 0) return 'it is empty';
  if (key.length > MAX_KEY_LENGTH) return `it is longer than ${MAX_KEY_LENGTH} characters`;
  if (key.includes('\0')) return 'it contains NUL';
  if (key.includes('\\')) return 'it contains a backslash';
  if (key.startsWith('/')) return 'it is absolute';
  if ([...key].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) {
    return 'it contains a control character';
  }
  const segments = key.split('/');
  if (allowTrailingSlash && segments.at(-1) === '') segments.pop();
  for (const s of segments) {
    if (s === '') return 'it has an empty segment';
    if (s === '.' || s === '..') return 'it has a . or .. segment';
  }
  // Names starting with a dot are reserved for the file backend's own bookkeeping (.tmp, .meta).
  if (segments[0]?.startsWith('.')) return 'its first segment starts with a dot';
  return null;
}

/** Throws InvalidKeyError unless `key` is a safe object key. */
export function assertValidKey(key: string): void {
  const why = problem(key, false);
  if (why !== null) throw new InvalidKeyError(key, why);
}

/** Like assertValidKey, for a prefix: it may end with `/` (and its last segment may be partial). */
export function assertValidPrefix(prefix: string): void {
  const why = problem(prefix, true);
  if (why !== null) throw new InvalidKeyError(prefix, why);
}
