/**
 * Hand-written checks for the few row shapes read on every job (the event log, the workflow column), where a
 * zod walk cost several times the JSON.parse before it (bench/row-parse.ts). They accept exactly what the zod
 * schemas they replace accepted and fail with the table, column and what was wrong.
 */

/** A row read back does not have the shape the store writes: a bug, or a write from outside Arrakis. */
export class MalformedRowError extends Error {
  constructor(table: string, column: string, why: string) {
    super(`malformed ${table} row: ${column} ${why}`);
    this.name = 'MalformedRowError';
  }
}

/** A non-null object that is not an array (what zod's object and record accept). */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * `v` without an own `__proto__` key, as zod's record returns it: zod skips that key (JSON.parse makes it an
 * own property; assigning it elsewhere would set a prototype). The same object when it has none.
 */
export function withoutProtoKey(v: Record<string, unknown>): Record<string, unknown> {
  if (!Object.hasOwn(v, '__proto__')) return v;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(v)) if (key !== '__proto__') out[key] = v[key];
  return out;
}

/** What `v` is, for an error message. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return `a ${typeof v}`;
}

/** JSON.parse with the column named in the error. */
export function parseJsonText(table: string, column: string, text: unknown): unknown {
  if (typeof text !== 'string')
    throw new MalformedRowError(table, column, `is ${describe(text)}, not JSON text`);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new MalformedRowError(
      table,
      column,
      `is not JSON (${err instanceof Error ? err.message : String(err)})`,
    );
  }
}
