/** Reads the real ComfyUI captures (copied from the shared comfyui-reference into ./captures) as untyped JSON for tests to parse. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CAPTURES = fileURLToPath(new URL('./captures/', import.meta.url));

/** The parsed JSON of one capture file. */
export function capture(file: string): unknown {
  const parsed: unknown = JSON.parse(readFileSync(join(CAPTURES, file), 'utf8'));
  return parsed;
}

/** Walks into untyped JSON by keys and indexes; throws when the path does not exist. */
export function pick(value: unknown, ...path: (string | number)[]): unknown {
  let current: unknown = value;
  for (const key of path) {
    if (typeof current !== 'object' || current === null || !(key in current)) {
      throw new Error(`capture path ${path.join('.')} missing at ${String(key)}`);
    }
    current = Reflect.get(current, key);
  }
  return current;
}

/** An array from untyped JSON. */
export function list(value: unknown): unknown[] {
  if (!Array.isArray(value)) throw new Error('expected an array in the capture');
  return value;
}
