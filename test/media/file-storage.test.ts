import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer, text } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileStorage } from '../../src/media/storage/file-storage.js';
import { InvalidKeyError } from '../../src/media/storage/object-key.js';

let root: string;
let storage: FileStorage;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'arrakis-fs-'));
  storage = new FileStorage(join(root, 'objects'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('FileStorage', () => {
  it('keeps a sidecar only when the extension does not imply the type, and never a stale one', async () => {
    const metaDir = join(root, 'objects', '.meta');
    await storage.put('jobs/j9/outputs/0-a.png', Buffer.from('x'), 'image/png');
    expect(() => readdirSync(metaDir)).toThrow();
    expect((await storage.get('jobs/j9/outputs/0-a.png'))?.contentType).toBe('image/png');
    await storage.put('jobs/j9/outputs/1-b.png', Buffer.from('x'), 'image/webp');
    expect((await storage.get('jobs/j9/outputs/1-b.png'))?.contentType).toBe('image/webp');
    await storage.put('jobs/j9/outputs/1-b.png', Buffer.from('y'), 'image/png');
    expect((await storage.get('jobs/j9/outputs/1-b.png'))?.contentType).toBe('image/png');
  });

  it('round-trips bytes and content type, from a Buffer or a stream', async () => {
    expect(await storage.put('jobs/j1/outputs/0-a.png', Buffer.from('png-bytes'), 'image/png')).toEqual({
      key: 'jobs/j1/outputs/0-a.png',
      size: 9,
      contentType: 'image/png',
    });
    await storage.put(
      'jobs/j1/inputs/b',
      Readable.from([Buffer.from('str'), Buffer.from('eam')]),
      'image/webp',
    );
    const a = await storage.get('jobs/j1/outputs/0-a.png');
    expect(a?.contentType).toBe('image/png');
    expect(a?.size).toBe(9);
    expect(await text(a!.body)).toBe('png-bytes');
    const b = await storage.get('jobs/j1/inputs/b');
    expect(b).toMatchObject({ size: 6, contentType: 'image/webp' });
    expect(await text(b!.body)).toBe('stream');
  });

  it('reads back an empty, a small and a large (streamed) object byte for byte', async () => {
    for (const size of [0, 70_000, 3 * 1024 * 1024 + 7]) {
      const bytes = Buffer.alloc(size);
      for (let i = 0; i < size; i++) bytes[i] = (i * 31) % 251;
      await storage.put(`jobs/j2/outputs/${size}.png`, bytes, 'image/png');
      const got = await storage.get(`jobs/j2/outputs/${size}.png`);
      expect(got?.size).toBe(size);
      expect((await buffer(got!.body)).equals(bytes)).toBe(true);
    }
  });

  it('reads an object whose size and type the caller recorded without its sidecar, and checks the size', async () => {
    const key = 'jobs/j8/outputs/0-a.png';
    await storage.put(key, Buffer.from('recorded'), 'image/x-recorded');
    // The recorded type is answered as is: the sidecar (which says the same for a real output) is not read.
    const known = await storage.get(key, { size: 8, contentType: 'image/png' });
    expect(known?.contentType).toBe('image/png');
    expect(known?.size).toBe(8);
    expect(await text(known!.body)).toBe('recorded');
    // A recorded size that does not match (the object was replaced) falls back to reading what is there.
    await storage.put(key, Buffer.from('replaced, longer'), 'image/x-recorded');
    const replaced = await storage.get(key, { size: 8, contentType: 'image/png' });
    expect(replaced?.contentType).toBe('image/x-recorded');
    expect(await text(replaced!.body)).toBe('replaced, longer');
    expect(await storage.get('jobs/j8/outputs/9-none.png', { size: 8, contentType: 'image/png' })).toBeNull();
    await storage.put('jobs/j8/outputs/dir/inner.png', Buffer.from('x'), 'image/png');
    expect(await storage.get('jobs/j8/outputs/dir', { size: 1, contentType: 'image/png' })).toBeNull();
  });

  it('answers null for a missing object or a folder', async () => {
    await storage.put('jobs/j1/x', Buffer.from('1'), 'text/plain');
    expect(await storage.get('jobs/j1/missing')).toBeNull();
    expect(await storage.get('jobs/j1')).toBeNull();
    expect(await storage.get('jobs/j1/x/deeper')).toBeNull();
  });

  it('replaces an object atomically and leaves no temp file behind, even when the writer fails', async () => {
    await storage.put('k/obj', Buffer.from('old'), 'text/plain');
    const failing = new Readable({
      read() {
        this.push(Buffer.from('partial-new'));
        this.destroy(new Error('upstream broke'));
      },
    });
    await expect(storage.put('k/obj', failing, 'text/plain')).rejects.toThrow('upstream broke');
    expect(await text((await storage.get('k/obj'))!.body)).toBe('old');
    expect(readdirSync(join(storage.root, '.tmp'))).toEqual([]);
    // A reader that opened the old object keeps reading it while a new one lands.
    const reading = await storage.get('k/obj');
    await storage.put('k/obj', Buffer.from('new'), 'text/plain');
    expect(await text(reading!.body)).toBe('old');
    expect(await text((await storage.get('k/obj'))!.body)).toBe('new');
  });

  it.each([
    ['../escape'],
    ['jobs/../../etc/passwd'],
    ['/etc/passwd'],
    ['jobs\\..\\x'],
    ['jobs/a\0b'],
    ['jobs//x'],
    ['jobs/./x'],
    ['.meta/x'],
    ['.tmp/x'],
    [''],
  ])('refuses the key %j', async (key) => {
    await expect(storage.put(key, Buffer.from('x'), 'text/plain')).rejects.toBeInstanceOf(InvalidKeyError);
    await expect(storage.get(key)).rejects.toBeInstanceOf(InvalidKeyError);
  });

  it('refuses a traversing prefix to delete', async () => {
    await expect(storage.deletePrefix('../')).rejects.toBeInstanceOf(InvalidKeyError);
  });

  it('deletes every object under a prefix and nothing else', async () => {
    for (const k of ['jobs/a/inputs/1', 'jobs/a/outputs/0', 'jobs/ab/outputs/0', 'jobs/b/outputs/0']) {
      await storage.put(k, Buffer.from(k), 'text/plain');
    }
    expect(await storage.deletePrefix('jobs/a/')).toBe(2);
    expect(await storage.get('jobs/a/inputs/1')).toBeNull();
    expect(await storage.get('jobs/ab/outputs/0')).not.toBeNull();
    expect(readdirSync(join(storage.root, 'jobs')).sort()).toEqual(['ab', 'b']);
    expect(await storage.deletePrefix('jobs/')).toBe(2);
    expect(await storage.deletePrefix('jobs/')).toBe(0);
  });

  it('serves bytes itself (no presigned URL) and checks the folder is writable', async () => {
    expect(await storage.presignedGetUrl()).toBeNull();
    await expect(storage.check()).resolves.toBeUndefined();
  });

  it("removes at check the temp files a killed process left, never a recent write's", async () => {
    const tmp = join(storage.root, '.tmp');
    mkdirSync(tmp, { recursive: true });
    writeFileSync(join(tmp, 'abandoned'), Buffer.alloc(1000));
    const twoDaysAgo = new Date(Date.now() - 2 * 24 * 60 * 60 * 1000);
    utimesSync(join(tmp, 'abandoned'), twoDaysAgo, twoDaysAgo);
    writeFileSync(join(tmp, 'in-flight'), Buffer.alloc(1000));
    await storage.check();
    expect(readdirSync(tmp)).toEqual(['in-flight']);
  });
});
