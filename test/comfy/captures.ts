/** Reads the real ComfyUI captures (copied from the shared comfyui-reference into ./captures) as untyped JSON for tests to parse. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { Workflow } from '../../src/comfy/workflow.js';

const CAPTURES = fileURLToPath(new URL('./captures/', import.meta.url));

/** The parsed JSON of one capture file. */
export function capture(file: string): unknown {
  const parsed: unknown = JSON.parse(captureText(file));
  return parsed;
}

/** The text of one capture file (its keys in the order the server wrote them; JSON.parse moves integer keys first). */
export function captureText(file: string): string {
  return readFileSync(join(CAPTURES, file), 'utf8');
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

const capturedPrompt = z.record(
  z.string(),
  z.looseObject({ class_type: z.string(), inputs: z.record(z.string(), z.unknown()) }),
);

/** The workflow a captured history entry (or queue item) was submitted with: `prompt[2]`. */
export function capturedWorkflow(entry: unknown): Workflow {
  return capturedPrompt.parse(pick(entry, 'prompt', 2));
}
