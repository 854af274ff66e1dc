/**
 * Deleting a job's stale output files lists its output folder once, however many attempts it had (every
 * voluntary release counts one), on file storage and on S3 (s3rver, its requests counted by a proxy in front).
 * The current or kept attempt's files and the previous release's index-keyed files stay.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ObjectStorage } from '../../src/media/storage/contract.js';
import { FileStorage } from '../../src/media/storage/file-storage.js';
import { S3Storage } from '../../src/media/storage/s3-storage.js';
import { legacyOutputKey, outputKey, outputPrefix } from '../../src/workers/output-key.js';
import { deleteStaleAttempts } from '../../src/workers/stale-outputs.js';
import { SILENT_OUTAGE_LOG } from '../../src/util/backoff.js';
import { startS3, type RunningS3 } from '../media/s3rver-server.js';

/** The job completed with attempt 201 after 200 runs that ended (most of them voluntary releases). */
const ATTEMPTS = 201;
const JOB = 'j-many';
const STALE = [
  outputKey(JOB, 3, 0, 'a.png'),
  outputKey(JOB, 150, 0, 'b.png'),
  outputKey(JOB, 150, 1, 'c.png'),
];
const KEPT = outputKey(JOB, ATTEMPTS, 0, 'out.png');
const LEGACY = legacyOutputKey(JOB, 0, 'old.png');
/** Another job whose id starts with this one's: its files are not this job's. */
const OTHER = outputKey(`${JOB}x`, 3, 0, 'a.png');

async function storeAll(storage: ObjectStorage): Promise<void> {
  for (const key of [...STALE, KEPT, LEGACY, OTHER]) await storage.put(key, Buffer.from(key), 'image/png');
}

async function remaining(storage: ObjectStorage, prefix: string): Promise<string[]> {
  return (await storage.list(prefix)).sort();
}

/** Counts each ObjectStorage method called through it. */
function counting(storage: ObjectStorage): { counted: ObjectStorage; calls: Map<string, number> } {
  const calls = new Map<string, number>();
  const counted = new Proxy(storage, {
    get(target, name) {
      const value: unknown = Reflect.get(target, name);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.set(String(name), (calls.get(String(name)) ?? 0) + 1);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { counted, calls };
}

describe('a job with many attempts on file storage', () => {
  let root: string;
  let storage: FileStorage;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'arrakis-stale-list-'));
    storage = new FileStorage(root);
  });
  afterAll(async () => {
    await storage.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('lists the output folder once and deletes only the stale attempts’ files', async () => {
    await storeAll(storage);
    const { counted, calls } = counting(storage);
    const state = { status: 'completed' as const, attempts: ATTEMPTS };
    expect(await deleteStaleAttempts(counted, JOB, state, SILENT_OUTAGE_LOG, [KEPT])).toBe(3);
    expect(Object.fromEntries(calls)).toEqual({ list: 1, deleteKeys: 1 });
    expect(await remaining(storage, outputPrefix(JOB))).toEqual([LEGACY, KEPT].sort());
    expect(await remaining(storage, outputPrefix(`${JOB}x`))).toEqual([OTHER]);
  });

  it('deleteKeys deletes exactly the keys given and counts only those that existed', async () => {
    await storage.put('jobs/k/outputs/1.0-a.png', Buffer.from('a'), 'image/png');
    await storage.put('jobs/k/outputs/1.0-a.png2', Buffer.from('b'), 'application/x-custom');
    expect(await storage.deleteKeys(['jobs/k/outputs/1.0-a.png', 'jobs/k/outputs/9.0-none.png'])).toBe(1);
    expect(await storage.list('jobs/k/')).toEqual(['jobs/k/outputs/1.0-a.png2']);
    expect(await storage.deleteKeys(['jobs/k/outputs/1.0-a.png2'])).toBe(1);
    expect(await storage.list('jobs/k/')).toEqual([]);
  });
});

describe('a job with many attempts on S3', () => {
  let s3: RunningS3;
  let proxy: Server;
  let storage: S3Storage;
  /** The requests s3rver received, as `METHOD kind`. */
  const requests: string[] = [];

  beforeAll(async () => {
    s3 = await startS3();
    const upstream = new URL(s3.endpoint);
    proxy = createServer((req, res) => {
      const url = new URL(req.url ?? '/', s3.endpoint);
      requests.push(`${req.method} ${url.searchParams.get('list-type') === '2' ? 'list' : 'object'}`);
      const up = request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        },
      );
      req.pipe(up);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    storage = new S3Storage({
      bucket: s3.bucket,
      prefix: 'arrakis',
      endpoint: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
      forcePathStyle: true,
      credentials: s3.credentials,
    });
  });
  afterAll(async () => {
    storage.close();
    await new Promise((resolve) => proxy.close(resolve));
    await s3.stop();
  });

  it('lists the job’s prefix in one request and deletes only the stale attempts’ files', async () => {
    await storeAll(storage);
    requests.length = 0;
    const state = { status: 'completed' as const, attempts: ATTEMPTS };
    expect(await deleteStaleAttempts(storage, JOB, state, SILENT_OUTAGE_LOG, [KEPT])).toBe(3);
    expect(requests.filter((r) => r === 'GET list')).toHaveLength(1);
    expect(requests.filter((r) => r === 'DELETE object')).toHaveLength(3);
    expect(requests).toHaveLength(4);
    expect(await remaining(storage, outputPrefix(JOB))).toEqual([LEGACY, KEPT].sort());
    expect(await remaining(storage, outputPrefix(`${JOB}x`))).toEqual([OTHER]);
  });

  it('list answers keys without the storage prefix; deleteKeys deletes exactly the keys given', async () => {
    await storage.put('jobs/k/outputs/1.0-a.png', Buffer.from('a'), 'image/png');
    await storage.put('jobs/k/outputs/1.0-a.png2', Buffer.from('b'), 'image/png');
    expect(await storage.deleteKeys(['jobs/k/outputs/1.0-a.png'])).toBe(1);
    expect(await storage.list('jobs/k/')).toEqual(['jobs/k/outputs/1.0-a.png2']);
  });
});
