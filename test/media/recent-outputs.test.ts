/**
 * The in-memory copy of recently stored small outputs (src/media/storage/recent-outputs.ts) over a real
 * FileStorage: a stored output is served from memory (the same bytes, even once the file is gone behind its
 * back), within a byte budget by least recent use, only outputs, only small ones, only for a while, and never
 * after deletePrefix. The route's auth in front of it is tested in test/api/output-download.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ObjectStorage, StoredObject } from '../../src/media/storage/contract.js';
import { FileStorage } from '../../src/media/storage/file-storage.js';
import { RecentOutputs } from '../../src/media/storage/recent-outputs.js';

let root: string;
let now = 0;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'arrakis-recent-'));
  now = 1_000;
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function open(
  options: { maxBytes?: number; maxEntries?: number; maxObjectBytes?: number; ttlMs?: number } = {},
): RecentOutputs {
  return new RecentOutputs(new FileStorage(join(root, 'objects')), { ...options, now: () => now });
}

/** Removes the file behind the storage's back: only a copy in memory can still answer. */
function unlinkFile(key: string): void {
  rmSync(join(root, 'objects', ...key.split('/')));
}

async function read(storage: RecentOutputs, key: string): Promise<Buffer | null> {
  const found = await storage.get(key);
  return found === null ? null : await buffer(found.body);
}

describe('RecentOutputs', () => {
  it('serves a stored output from memory: the same bytes, type and size', async () => {
    const storage = open();
    const bytes = Buffer.from('png bytes');
    await storage.put('jobs/j1/outputs/1.0-a.png', bytes, 'image/png');
    unlinkFile('jobs/j1/outputs/1.0-a.png');
    const found = await storage.get('jobs/j1/outputs/1.0-a.png');
    expect(found?.contentType).toBe('image/png');
    expect(found?.size).toBe(bytes.length);
    expect(found?.bytes?.equals(bytes)).toBe(true);
    expect((await buffer(found!.body)).equals(bytes)).toBe(true);
  });

  it('holds a view on a larger buffer (a small request body in the shared pool) as memory of its own', async () => {
    const storage = open();
    const whole = Buffer.alloc(1024 * 1024, 'x');
    const view = whole.subarray(100, 200); // 100 bytes counted; 1 MiB kept alive if the view were held
    await storage.put('jobs/j1/outputs/1.0-a.txt', view, 'text/plain');
    const found = await storage.get('jobs/j1/outputs/1.0-a.txt');
    expect(found?.bytes?.equals(view)).toBe(true);
    expect(storage.heldBytes).toBe(100);
    expect(found?.bytes?.buffer.byteLength).toBe(100);
  });

  it('holds only outputs, only small ones, and only for ttlMs', async () => {
    const storage = open({ maxObjectBytes: 4, ttlMs: 1_000 });
    await storage.put('jobs/j1/inputs/face.png', Buffer.from('in'), 'image/png');
    await storage.put('jobs/j1/outputs/1.0-big.png', Buffer.from('12345'), 'image/png');
    await storage.put('jobs/j1/outputs/1.1-old.png', Buffer.from('old'), 'image/png');
    for (const key of ['jobs/j1/inputs/face.png', 'jobs/j1/outputs/1.0-big.png']) {
      unlinkFile(key);
      expect(await read(storage, key), key).toBeNull();
    }
    now += 1_000;
    unlinkFile('jobs/j1/outputs/1.1-old.png');
    expect(await read(storage, 'jobs/j1/outputs/1.1-old.png')).toBeNull();
    expect(storage.heldBytes).toBe(0);
  });

  it('keeps within its byte budget, evicting the least recently used', async () => {
    const storage = open({ maxBytes: 10 });
    await storage.put('jobs/j1/outputs/1.0-a', Buffer.from('aaaa'), 'image/png');
    await storage.put('jobs/j1/outputs/1.1-b', Buffer.from('bbbb'), 'image/png');
    await read(storage, 'jobs/j1/outputs/1.0-a'); // a is now the most recent
    await storage.put('jobs/j1/outputs/1.2-c', Buffer.from('cccc'), 'image/png');
    expect(storage.heldBytes).toBe(8);
    for (const k of ['1.0-a', '1.1-b', '1.2-c']) unlinkFile(`jobs/j1/outputs/${k}`);
    expect((await read(storage, 'jobs/j1/outputs/1.0-a'))?.toString()).toBe('aaaa');
    expect(await read(storage, 'jobs/j1/outputs/1.1-b')).toBeNull();
    expect((await read(storage, 'jobs/j1/outputs/1.2-c'))?.toString()).toBe('cccc');
  });

  it('does not serve a copy unlike what the caller recorded: another replica replaced the object', async () => {
    const mine = open();
    const other = open(); // a second replica over the same folder
    const key = 'jobs/j1/outputs/0-a.png';
    await mine.put(key, Buffer.from('attempt 1'), 'image/png');
    await other.put(key, Buffer.from('attempt two'), 'image/png');
    const found = await mine.get(key, { size: 11, contentType: 'image/png' });
    expect(found?.bytes?.toString()).toBe('attempt two');
    expect((await buffer(found!.body)).toString()).toBe('attempt two');
  });

  it('holds at most maxEntries objects: empty outputs, which cost no budget bytes, do not pile up', async () => {
    const storage = open({ maxEntries: 2 });
    for (const k of ['1.0-a', '1.1-b', '1.2-c'])
      await storage.put(`jobs/j1/outputs/${k}`, Buffer.alloc(0), 'image/png');
    for (const k of ['1.0-a', '1.1-b', '1.2-c']) unlinkFile(`jobs/j1/outputs/${k}`);
    expect(await read(storage, 'jobs/j1/outputs/1.0-a')).toBeNull();
    expect((await read(storage, 'jobs/j1/outputs/1.1-b'))?.length).toBe(0);
    expect((await read(storage, 'jobs/j1/outputs/1.2-c'))?.length).toBe(0);
  });

  it('forgets what deletePrefix deletes, and what a failed put would have replaced', async () => {
    const storage = open();
    await storage.put('jobs/j1/outputs/1.0-a.png', Buffer.from('a'), 'image/png');
    await storage.put('jobs/j2/outputs/1.0-a.png', Buffer.from('b'), 'image/png');
    expect(await storage.deletePrefix('jobs/j1/outputs/')).toBe(1);
    expect(await read(storage, 'jobs/j1/outputs/1.0-a.png')).toBeNull();
    expect((await read(storage, 'jobs/j2/outputs/1.0-a.png'))?.toString()).toBe('b');
    // A put the backend refuses (a folder stands where the file would go) leaves no copy of the old bytes.
    await expect(storage.put('jobs/j2/outputs', Buffer.from('x'), 'image/png')).rejects.toThrow();
    await storage.put('jobs/j3/outputs/1.0-a.png', Buffer.from('c'), 'image/png');
    rmSync(join(root, 'objects', 'jobs', 'j3', 'outputs', '1.0-a.png'));
    await storage.put('jobs/j3/outputs/1.0-a.png/x', Buffer.from('d'), 'image/png');
    await expect(storage.put('jobs/j3/outputs/1.0-a.png', Buffer.from('e'), 'image/png')).rejects.toThrow();
    expect((await storage.get('jobs/j3/outputs/1.0-a.png'))?.bytes?.toString()).not.toBe('c');
  });

  it('holds nothing a deletePrefix that overlapped its put may have deleted', async () => {
    // The backend is a real FileStorage; a gate holds a put's answer after the file landed (put then
    // deletePrefix: the delete removes the file before the put's caller resumes) and a delete before it runs
    // (deletePrefix then put: the file a put wrote while the delete was on its way is removed by it).
    const files = new FileStorage(join(root, 'objects'));
    const gates: { put?: Promise<void>; del?: Promise<void>; landed?: () => void } = {};
    const gated: ObjectStorage = {
      put: async (key, body, type): Promise<StoredObject> => {
        const stored = await files.put(key, body, type);
        gates.landed?.();
        await gates.put;
        return stored;
      },
      get: (key, known) => files.get(key, known),
      deletePrefix: async (prefix) => {
        await gates.del;
        return await files.deletePrefix(prefix);
      },
      list: (prefix) => files.list(prefix),
      deleteKeys: async (keys) => {
        await gates.del;
        return await files.deleteKeys(keys);
      },
      presignedGetUrl: async () => null,
      check: () => files.check(),
    };
    const storage = new RecentOutputs(gated, { now: () => now });
    let open!: () => void;

    gates.put = new Promise((resolve) => (open = resolve));
    const landed = new Promise<void>((resolve) => (gates.landed = resolve));
    const put = storage.put('jobs/j1/outputs/1.0-a.png', Buffer.from('a'), 'image/png');
    await landed; // the file is written, the answer held
    gates.put = undefined;
    gates.landed = undefined;
    expect(await storage.deletePrefix('jobs/j1/outputs/')).toBe(1);
    open();
    await put;
    expect(await read(storage, 'jobs/j1/outputs/1.0-a.png')).toBeNull();
    expect(storage.heldBytes).toBe(0);

    gates.del = new Promise((resolve) => (open = resolve));
    const deleted = storage.deletePrefix('jobs/j2/outputs/');
    await storage.put('jobs/j2/outputs/1.0-a.png', Buffer.from('b'), 'image/png');
    gates.del = undefined;
    open();
    expect(await deleted).toBe(1);
    expect(await read(storage, 'jobs/j2/outputs/1.0-a.png')).toBeNull();
    expect(storage.heldBytes).toBe(0);
  });
});
