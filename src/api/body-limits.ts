/**
 * Nesting limits for request bodies, shared by every body shape (JSON, the multipart `request` field, and so
 * template params). Deep JSON is cheap to send and expensive later: recursive code (JSON.stringify, hashing,
 * the worker's prompt encoding) overflows the stack at a few thousand levels, so depth is checked on the raw
 * text before it is parsed, and on any value that arrives already parsed, before anything else walks it.
 */
import { ApiError } from '../errors.js';

/** The deepest nesting of objects and arrays any request body may have. */
export const MAX_JSON_DEPTH = 64;

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * True when JSON `text` nests objects/arrays deeper than `limit`, by one linear scan that skips strings.
 * It does not validate the JSON (the parser does that next); on invalid text it may answer either way.
 */
export function jsonTextTooDeep(text: string, limit = MAX_JSON_DEPTH): boolean {
  let level = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++level > limit) return true;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      level--;
    }
  }
  return false;
}

/**
 * True when an already-parsed value nests deeper than `limit` (iterative: safe on any depth). Bytes (a Buffer
 * body, as a worker's output upload is) are a leaf: walking one visits every byte, ~1 s and ~1 GB per 64 MiB.
 */
export function valueTooDeep(value: unknown, limit = MAX_JSON_DEPTH): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const item = stack.pop();
    if (item === undefined) break;
    const [v, d] = item;
    if (d > limit) return true;
    if (v !== null && typeof v === 'object' && !ArrayBuffer.isView(v)) {
      for (const child of Object.values(v))
        if (child !== null && typeof child === 'object') stack.push([child, d + 1]);
    }
  }
  return false;
}

/** The error every too-deep body answers with: 413 `payload_too_large`. */
export function tooDeepError(where = 'The JSON body'): ApiError {
  return new ApiError('payload_too_large', `${where} is nested deeper than ${MAX_JSON_DEPTH} levels.`, {
    max_depth: MAX_JSON_DEPTH,
  });
}
