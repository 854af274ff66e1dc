/**
 * FileStorage's writer thread (src/media/storage/file-writer.ts): a put of a Buffer is written, synced and
 * renamed on a worker thread, with the sidecar rules and the atomic-publish guarantees of the event-loop path.
 * The thread's test hook pauses it after a temp file is synced and before its rename, so a test can look at the
 * folder mid-put, or kill the thread there.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileStorage } from '../../src/media/storage/file-storage.js';
import { INLINE_AFTER_FAST, INLINE_MAX_BYTES, WriterDiedError } from '../../src/media/storage/file-writer.js';

let root: string;
/** [0]: temp files the thread has synced and paused on; [1]: renames it may do in all. */
let gate: Int32Array;
let storage: FileStorage;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'arrakis-fw-'));
  gate = new Int32Array(new SharedArrayBuffer(8));
  release();
  storage = new FileStorage(join(root, 'objects'), { writerTestHooks: { pauseBeforeRename: gate } });
});
afterEach(async () => {
  release();
  await storage.close();
  rmSync(root, { recursive: true, force: true });
});

/** Holds the thread before every rename from the next one on. */
function hold(): void {
  Atomics.store(gate, 1, Atomics.load(gate, 0));
}
/** Lets one held rename through. */
function step(): void {
  Atomics.add(gate, 1, 1);
}
function release(): void {
  Atomics.store(gate, 1, 1e9);
}
/** Waits until the thread has paused `n` times in all. */
async function paused(n: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Atomics.load(gate, 0) < n) {
    if (Date.now() > deadline)
      throw new Error(`the writer thread paused ${Atomics.load(gate, 0)} times, not ${n}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}
function tmpFiles(): string[] {
  const dir = join(storage.root, '.tmp');
  return existsSync(dir) ? readdirSync(dir) : [];
}
const metaOf = (key: string): string => join(storage.root, '.meta', `${key}.json`);

/**
 * Three puts into `s` (empty so far), counting folder syncs in `synced` (zeroed first): each folder a put made
 * holds a new entry, and so does the parent of the first one it made.
 */
async function expectFolderSyncs(s: FileStorage, synced: Int32Array): Promise<void> {
  Atomics.store(synced, 0, 0);
  // Three new folders (jobs, jobs/a, jobs/a/outputs): each holds a new entry, and so does the root.
  await s.put('jobs/a/outputs/1.0-x.png', Buffer.from('one'), 'image/png');
  expect(Atomics.load(synced, 0)).toBe(4);
  // An existing folder: its own only.
  await s.put('jobs/a/outputs/1.1-y.png', Buffer.from('two'), 'image/png');
  expect(Atomics.load(synced, 0)).toBe(5);
  // One new folder under an existing one: it and its parent.
  await s.put('jobs/a/inputs/z.png', Buffer.from('three'), 'image/png');
  expect(Atomics.load(synced, 0)).toBe(7);
}

describe('FileStorage writer thread', () => {
  it('does not hold a shutdown on a stalled write: past its grace the write fails and close returns', async () => {
    hold();
    const put = storage.put('jobs/j8/outputs/0-stuck.png', Buffer.alloc(100, 1), 'image/png');
    await paused(1);
    const failed = put.then(
      () => null,
      (err: unknown) => err,
    );
    await storage.writerThread!.close(50);
    expect(await failed).toBeInstanceOf(WriterDiedError);
    expect(tmpFiles()).toEqual([]);
    release();
  });

  it('writes a body larger than its bound on the event loop, never queued behind the thread', async () => {
    const bounded = new FileStorage(join(root, 'bounded'), {
      writerMaxBytes: 1024,
      writerTestHooks: { pauseBeforeRename: gate },
    });
    hold();
    const small = bounded.put('jobs/j9/outputs/0-small.png', Buffer.alloc(100, 1), 'image/png');
    await paused(1);
    // The thread holds the small write; the large one goes past it.
    const large = Buffer.alloc(4096, 2);
    expect(await bounded.put('jobs/j9/outputs/1-large.png', large, 'image/png')).toMatchObject({
      size: 4096,
    });
    expect((await bounded.get('jobs/j9/outputs/1-large.png'))!.bytes!.equals(large)).toBe(true);
    expect(await bounded.get('jobs/j9/outputs/0-small.png')).toBeNull();
    release();
    expect(await small).toMatchObject({ size: 100 });
    await bounded.close();
  });

  it('syncs the folder of every published object, and every folder it made and their parent, on both paths', async () => {
    const synced = new Int32Array(new SharedArrayBuffer(4));
    for (const writerThread of [true, false]) {
      const s = new FileStorage(join(root, `synced-${writerThread}`), {
        writerThread,
        writerTestHooks: { syncedDirs: synced },
      });
      try {
        await expectFolderSyncs(s, synced);
      } finally {
        await s.close();
      }
    }
  });

  it('publishes a Buffer only once it is synced, readable with its type and size', async () => {
    hold();
    const png = Buffer.alloc(5000, 7);
    const put = storage.put('jobs/j1/outputs/0-a.png', png, 'image/png');
    await paused(1);
    // Synced in the temp folder, not yet visible under its key.
    expect(tmpFiles()).toHaveLength(1);
    expect(await storage.get('jobs/j1/outputs/0-a.png')).toBeNull();
    release();
    expect(await put).toEqual({ key: 'jobs/j1/outputs/0-a.png', size: 5000, contentType: 'image/png' });
    const got = await storage.get('jobs/j1/outputs/0-a.png');
    expect(got).toMatchObject({ size: 5000, contentType: 'image/png' });
    expect(got!.bytes!.equals(png)).toBe(true);
    expect(tmpFiles()).toEqual([]);
  });

  it('writes the sidecar before the object and drops a stale one before the object lands', async () => {
    const key = 'jobs/j2/outputs/0-a.png';
    hold();
    const webp = storage.put(key, Buffer.from('webp'), 'image/webp');
    await paused(1);
    expect(existsSync(metaOf(key))).toBe(false); // the sidecar's own temp file is synced, not renamed yet
    step();
    await paused(2);
    expect(existsSync(metaOf(key))).toBe(true); // the sidecar is in place before the object
    expect(existsSync(join(storage.root, key))).toBe(false);
    release();
    await webp;
    expect((await storage.get(key))?.contentType).toBe('image/webp');

    hold();
    const png = storage.put(key, Buffer.from('png!'), 'image/png');
    await paused(3);
    expect(existsSync(metaOf(key))).toBe(false); // gone before the new object is published
    release();
    await png;
    const got = await storage.get(key);
    expect(got?.contentType).toBe('image/png');
    expect(await text(got!.body)).toBe('png!');
  });

  it('takes many puts in flight, to different keys and to the same key, and leaves no temp file', async () => {
    const puts: Array<Promise<unknown>> = [];
    for (let i = 0; i < 20; i++) {
      puts.push(storage.put(`jobs/j3/outputs/${i}.png`, Buffer.from(`out-${i}`), 'image/png'));
    }
    for (let i = 0; i < 10; i++) {
      // Alternating types: the sidecar must always match the bytes that won.
      const type = i % 2 === 0 ? 'image/webp' : 'image/png';
      puts.push(storage.put('jobs/j3/outputs/same.png', Buffer.from(`same-${i}-${type}`), type));
    }
    expect(storage.writerThread?.inFlight).toBe(30);
    await Promise.all(puts);
    expect(storage.writerThread?.inFlight).toBe(0);
    for (let i = 0; i < 20; i++) {
      expect(await text((await storage.get(`jobs/j3/outputs/${i}.png`))!.body)).toBe(`out-${i}`);
    }
    const same = await storage.get('jobs/j3/outputs/same.png');
    const body = await text(same!.body);
    expect(body).toBe('same-9-image/png'); // one thread writes in the order asked: the last put wins
    expect(body.endsWith(same!.contentType)).toBe(true);
    expect(tmpFiles()).toEqual([]);
  });

  it('fails a put whose thread dies with a clear error, removes its temp file, and restarts for the next', async () => {
    const key = 'jobs/j4/outputs/0-a.png';
    await storage.put(key, Buffer.from('old'), 'image/png');
    hold();
    const put = storage.put(key, Buffer.from('lost'), 'image/png');
    const failed = put.catch((err: unknown) => err);
    await paused(2);
    expect(tmpFiles()).toHaveLength(1);
    await storage.writerThread!.terminateForTest();
    const err = await failed;
    expect(err).toBeInstanceOf(WriterDiedError);
    expect(err).toMatchObject({ code: 'file_writer_died' });
    expect((err as Error).message).toMatch(/writer thread .*before the write was confirmed/);
    expect(tmpFiles()).toEqual([]);
    expect(await text((await storage.get(key))!.body)).toBe('old');
    release();
    await storage.put(key, Buffer.from('new'), 'image/png');
    expect(await text((await storage.get(key))!.body)).toBe('new');
  });

  it('reports a write the file system refuses with its code, and leaves no temp file', async () => {
    await storage.put('jobs/j5/a', Buffer.from('file'), 'text/plain');
    // A folder is needed where a file is.
    await expect(storage.put('jobs/j5/a/b', Buffer.from('x'), 'text/plain')).rejects.toMatchObject({
      code: expect.stringMatching(/^(ENOTDIR|EEXIST)$/),
    });
    expect(tmpFiles()).toEqual([]);
  });

  it('lets puts in flight finish on close, and starts again for a put after it', async () => {
    const puts = [0, 1, 2].map((i) => storage.put(`jobs/j6/${i}.txt`, Buffer.from(`${i}`), 'text/plain'));
    await storage.close();
    expect(await Promise.all(puts)).toHaveLength(3);
    await storage.put('jobs/j6/after.txt', Buffer.from('after'), 'text/plain');
    expect(await text((await storage.get('jobs/j6/after.txt'))!.body)).toBe('after');
  });

  it('keeps a process alive while a put is in flight, and never once it is idle', async () => {
    const script = `
      import { FileStorage } from ${JSON.stringify(join(process.cwd(), 'src/media/storage/file-storage.ts'))};
      const s = new FileStorage(${JSON.stringify(join(root, 'child'))});
      s.put('jobs/c/outputs/0.png', Buffer.alloc(4096, 1), 'image/png').then((o) => console.log('stored', o.size));
    `;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      {
        timeout: 20_000,
      },
    );
    expect(stdout.trim()).toBe('stored 4096');
  }, 30_000);
});

describe('FileStorage writer: small objects written on the event loop while the storage writes fast', () => {
  let s: FileStorage;
  /** The inline path's clock: each reading moves it on by `tick` ms, so a test decides how long a write took. */
  let clock = 0;
  let tick = 0;
  const synced = new Int32Array(new SharedArrayBuffer(4));

  const open = (maxMs: number): FileStorage =>
    new FileStorage(join(root, `inline-${maxMs}`), {
      writerTestHooks: { syncedDirs: synced },
      inlineWrites: { maxMs, clock: () => (clock += tick) },
    });
  beforeEach(() => {
    clock = 0;
    tick = 0;
    Atomics.store(synced, 0, 0);
    // Any real write counts as fast: the tests decide which inline writes are slow.
    s = open(60_000);
  });
  afterEach(async () => {
    await s.close();
  });
  const inlined = (): number => s.writerThread!.inlined;
  const temps = (): string[] => {
    const dir = join(s.root, '.tmp');
    return existsSync(dir) ? readdirSync(dir) : [];
  };
  /** INLINE_AFTER_FAST writes, one after another: all on the thread, each as fast as a real write is. */
  async function fastStreak(prefix: string): Promise<void> {
    const before = inlined();
    for (let i = 0; i < INLINE_AFTER_FAST; i++) {
      await s.put(`${prefix}/${i}.png`, Buffer.from(`${i}`), 'image/png');
    }
    expect(inlined()).toBe(before);
  }

  it('goes inline after a streak of fast writes, with the same results, sidecars and folder syncs as the thread', async () => {
    await fastStreak('warm');
    await expectFolderSyncs(s, synced);
    expect(inlined()).toBe(3);
    const got = await s.get('jobs/a/outputs/1.0-x.png');
    expect(got).toMatchObject({ size: 3, contentType: 'image/png' });
    // A type the key does not imply: its sidecar first; the next object under the key drops it.
    await s.put('jobs/a/b.png', Buffer.from('{}'), 'application/x-thing');
    expect(existsSync(join(s.root, '.meta', 'jobs/a/b.png.json'))).toBe(true);
    expect((await s.get('jobs/a/b.png'))?.contentType).toBe('application/x-thing');
    await s.put('jobs/a/b.png', Buffer.from('x'), 'image/png');
    expect(existsSync(join(s.root, '.meta', 'jobs/a/b.png.json'))).toBe(false);
    expect((await s.get('jobs/a/b.png'))?.contentType).toBe('image/png');
    expect(inlined()).toBe(5);
    expect(temps()).toEqual([]);
  });

  it('keeps every write on the thread while writes are slower than the bound', async () => {
    await s.close();
    s = open(0);
    for (let i = 0; i < INLINE_AFTER_FAST * 2; i++) {
      await s.put(`slow/${i}.png`, Buffer.from(`${i}`), 'image/png');
    }
    expect(inlined()).toBe(0);
  });

  it('sends the writes after a slow inline one back to the thread, for twice the streak each time', async () => {
    await fastStreak('warm');
    tick = 120_000; // the next inline write reads as two minutes long
    await s.put('slow.png', Buffer.from('s'), 'image/png');
    expect(inlined()).toBe(1);
    tick = 0;
    // The event loop paid for that one: the next inline write waits for 32 fast writes, not 16.
    await fastStreak('again');
    await fastStreak('and-again');
    await s.put('fast.png', Buffer.from('f'), 'image/png');
    expect(inlined()).toBe(2);
    // Slow again: 64 now. Not after 48 fast writes, after 64.
    tick = 120_000;
    await s.put('slow-2.png', Buffer.from('s'), 'image/png');
    expect(inlined()).toBe(3);
    tick = 0;
    for (let i = 0; i < 3; i++) await fastStreak(`x${i}`);
    await s.put('not-yet.png', Buffer.from('n'), 'image/png');
    expect(inlined()).toBe(3);
    for (let i = 0; i < INLINE_AFTER_FAST - 1; i++) await s.put(`x3/${i}.png`, Buffer.from('x'), 'image/png');
    expect(inlined()).toBe(3);
    await s.put('fast-2.png', Buffer.from('f'), 'image/png');
    expect(inlined()).toBe(4);
  });

  it('halves the streak again after twice that many fast writes in a row', async () => {
    await fastStreak('warm');
    tick = 120_000;
    await s.put('slow.png', Buffer.from('s'), 'image/png'); // inline and slow: 32 now
    tick = 0;
    // 64 fast writes (the first 32 on the thread, the rest inline): twice 32, so back to 16.
    for (let i = 0; i < 4; i++) {
      for (let j = 0; j < INLINE_AFTER_FAST; j++)
        await s.put(`calm${i}/${j}.png`, Buffer.from('c'), 'image/png');
    }
    expect(inlined()).toBe(1 + INLINE_AFTER_FAST * 2);
    tick = 120_000;
    await s.put('slow-2.png', Buffer.from('s'), 'image/png'); // doubles 16 to 32, not 32 to 64
    tick = 0;
    const before = inlined();
    for (let j = 0; j < 2 * INLINE_AFTER_FAST; j++)
      await s.put(`after/${j}.png`, Buffer.from('a'), 'image/png');
    expect(inlined()).toBe(before);
    await s.put('inline-again.png', Buffer.from('i'), 'image/png');
    expect(inlined()).toBe(before + 1);
  });

  it('fails an inline write the file system refuses with its code, leaves no temp file, and ends the streak', async () => {
    await fastStreak('warm');
    await s.put('jobs/j5/a', Buffer.from('file'), 'text/plain');
    expect(inlined()).toBe(1);
    await expect(s.put('jobs/j5/a/b', Buffer.from('x'), 'text/plain')).rejects.toMatchObject({
      code: expect.stringMatching(/^(ENOTDIR|EEXIST)$/),
    });
    expect(temps()).toEqual([]);
    await s.put('jobs/j5/c', Buffer.from('c'), 'text/plain');
    expect(inlined()).toBe(1);
  });

  it('never overtakes the thread: a write while one is in flight there, or a large object, goes to the thread', async () => {
    await fastStreak('warm');
    const big = s.put('big.bin', Buffer.alloc(INLINE_MAX_BYTES + 1, 1), 'application/octet-stream');
    const small = s.put('big.bin', Buffer.from('after'), 'application/octet-stream');
    expect(s.writerThread!.inFlight).toBe(2);
    await Promise.all([big, small]);
    expect(inlined()).toBe(0);
    // The thread wrote them in the order asked: the later put is what the key holds.
    expect(await text((await s.get('big.bin'))!.body)).toBe('after');
  });

  it('never overtakes a closing thread: a write while it still holds one goes to a thread too', async () => {
    await fastStreak('warm');
    const big = s.put('big.bin', Buffer.alloc(INLINE_MAX_BYTES + 1, 1), 'application/octet-stream');
    const closing = s.close();
    const small = s.put('small.png', Buffer.from('after'), 'image/png');
    await Promise.all([big, closing, small]);
    expect(inlined()).toBe(0);
  });
});
