import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ModelCache, ModelFetchError } from '../../src/models/model-cache.js';
import type { ModelFile } from '../../src/store/contract.js';

let dir: string;
let http: Server;
let base: string;
const requests: string[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'model-cache-'));
  requests.length = 0;
  http = createServer((req, res) => {
    requests.push(req.url ?? '');
    res.end(Buffer.alloc(Number(/\/(\d+)$/.exec(req.url ?? '')?.[1] ?? 0), 7));
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const a = http.address();
  base = `http://user:secret@127.0.0.1:${typeof a === 'object' && a !== null ? a.port : 0}`;
});
afterEach(async () => {
  await new Promise((r) => http.close(r));
  await rm(dir, { recursive: true, force: true });
});

function file(name: string, size: number, sha?: string): ModelFile {
  const bytes = Buffer.alloc(size, 7);
  return {
    name,
    kind: 'checkpoint',
    url: `${base}/${size}`,
    sha256: sha ?? createHash('sha256').update(bytes).digest('hex'),
    size,
    createdAt: 0,
  };
}

describe('the agent model cache', () => {
  it('evicts the least recently used fetched file to stay under its budget', async () => {
    const cache = new ModelCache({ dir, budgetBytes: 250 });
    const files = new Map([
      ['a', file('a', 100)],
      ['b', file('b', 101)],
      ['c', file('c', 102)],
    ]);
    const lookup = async (n: string): Promise<ModelFile | null> => files.get(n) ?? null;
    await cache.ensure([{ kind: 'checkpoint', name: 'a' }], lookup);
    await cache.ensure([{ kind: 'checkpoint', name: 'b' }], lookup);
    await cache.ensure([{ kind: 'checkpoint', name: 'a' }], lookup); // a used again: b is now the oldest
    await cache.ensure([{ kind: 'checkpoint', name: 'c' }], lookup);
    expect(await cache.onDisk()).toEqual(['a', 'c']);
    expect(requests).toEqual(['/100', '/101', '/102']);
  });

  it('refuses names that leave the folder and bytes beyond the registered size, hiding credentials', async () => {
    const cache = new ModelCache({ dir, budgetBytes: 1e9, attempts: 2 });
    await expect(cache.ensure([{ kind: 'lora', name: '../x' }], async () => null)).rejects.toThrow(
      ModelFetchError,
    );
    const lying = { ...file('big', 10), url: `${base}/20` };
    const err = await cache
      .ensure([{ kind: 'checkpoint', name: 'big' }], async () => lying)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelFetchError);
    expect(String(err)).toContain('more than the registered 10 bytes');
    expect(String(err)).not.toContain('secret');
    expect(requests).toHaveLength(2);
    expect(existsSync(join(dir, 'checkpoints/big'))).toBe(false);
    expect(readdirSync(join(dir, 'checkpoints'))).toEqual([]);
  });
});
