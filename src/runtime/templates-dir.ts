/** `--templates DIR`: every `*.json` file in the folder is a template, validated and upserted at start. */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { saveTemplate } from '../api/routes/admin/templates.js';
import { ApiError } from '../errors.js';
import type { Store } from '../store/contract.js';

/** Loads the folder; a bad file stops the start with a message naming the file and the problem. */
export async function loadTemplatesDir(store: Store, dir: string, now: () => number): Promise<string[]> {
  const names = (await readdir(dir)).filter((f) => f.endsWith('.json')).sort();
  const loaded: string[] = [];
  for (const file of names) {
    const path = join(dir, file);
    let json: unknown;
    try {
      json = JSON.parse(await readFile(path, 'utf8'));
    } catch (err) {
      throw new Error(
        `--templates: ${path} is not valid JSON (${err instanceof Error ? err.message : String(err)})`,
      );
    }
    try {
      loaded.push((await saveTemplate({ store, now }, json)).name);
    } catch (err) {
      if (err instanceof ApiError) {
        throw new Error(`--templates: ${path}: ${err.message} ${JSON.stringify(err.extra)}`);
      }
      throw err;
    }
  }
  return loaded;
}
