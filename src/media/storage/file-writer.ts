/**
 * The file storage's whole-object writes on a worker thread: one hop off the event loop per put. Through
 * `fs/promises` a put of a small Buffer is five or six trips through libuv's thread pool (mkdir, open, write,
 * fdatasync, rename, close), and on a busy serve process every trip's answer waits behind other work on the
 * event loop (a 1.3 ms store took 3.6 ms in bench/dispatch). Here one thread does the same steps with the
 * synchronous calls — drop or write the `.meta` sidecar, mkdir -p the object's folder, open a temp file, write,
 * fdatasync, rename into place, fsync the folder (and every folder mkdir made, up to the parent of the first) —
 * and answers once.
 *
 * Guarantees are those of file-storage.ts: the data is durable before the rename publishes it, a failed write
 * removes its temp file (the thread on an error; this side for the writes of a thread that died, whose temp
 * names it chose). One thread, started on the first write, writes in the order it was asked; a thread that dies
 * fails the writes it held with WriterDiedError and the next write starts a new one. The thread is referenced
 * only while writes are in flight: an idle writer never keeps the process alive, a pending one does.
 *
 * Where the storage's writes prove cheaper than the hop itself (tmpfs, a device whose flush returns at once), a
 * small object is written on the event loop with the same steps (INLINE_MAX_MS): the hop was the largest part
 * of a job's output store there.
 */
import * as fs from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Script } from 'node:vm';
import { Worker } from 'node:worker_threads';

/** One file to publish atomically: `bytes` go to `tmp`, are synced, then renamed to `path`. */
export interface AtomicFile {
  path: string;
  tmp: string;
  bytes: Buffer;
}

/** A whole object to store: the sidecar first (or a stale one dropped), then the object. */
export interface WriteRequest {
  object: AtomicFile;
  /** The content-type sidecar, when the key's extension does not imply the type. */
  meta?: AtomicFile;
  /** A sidecar a previous object may have left, removed before the object is published. */
  dropMeta?: string;
}

/** The writer thread exited (crashed, was terminated) with this write in flight; it may or may not have landed. */
export class WriterDiedError extends Error {
  readonly code = 'file_writer_died';
  constructor(why: string) {
    super(`file storage writer thread ${why} before the write was confirmed; the write may not have landed`);
    this.name = 'WriterDiedError';
  }
}

/** Test-only hooks of the file storage's writes. */
export interface WriterTestHooks {
  /**
   * After syncing a temp file and before its rename, the thread counts `[0]` up and waits until `[1]` (renames
   * allowed in all) exceeds the count it had.
   */
  pauseBeforeRename?: Int32Array;
  /** `[0]` counts the folders fsynced after a rename (by the thread and by the event-loop path alike). */
  syncedDirs?: Int32Array;
}

/**
 * The steps of one object write, in plain JavaScript (CommonJS): the writer thread's program runs this text, and
 * the event loop compiles the very same text once (vm) for the writes it makes itself (FileWriter's inline path),
 * so the two paths cannot drift apart. Everything it uses comes in as a parameter. `bytes` is an ArrayBuffer on
 * the thread (transferred) and a Uint8Array inline.
 */
const WRITE_OBJECT = `
function writeObject(fs, dirname, req, hooks) {
  function openTemp(tmp) {
    try {
      return fs.openSync(tmp, 'wx');
    } catch (err) {
      if (!err || err.code !== 'ENOENT') throw err;
      fs.mkdirSync(dirname(tmp), { recursive: true }); // the temp folder, once per root
      return fs.openSync(tmp, 'wx');
    }
  }
  function syncDir(dir) {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    if (hooks.syncedDirs) Atomics.add(hooks.syncedDirs, 0, 1);
  }
  function publish(f) {
    const fd = openTemp(f.tmp);
    const bytes = f.bytes instanceof Uint8Array ? f.bytes : new Uint8Array(f.bytes);
    try {
      for (let off = 0; off < bytes.length; ) off += fs.writeSync(fd, bytes, off, bytes.length - off, off);
      fs.fdatasyncSync(fd);
    } catch (err) {
      fs.closeSync(fd);
      fs.rmSync(f.tmp, { force: true });
      throw err;
    }
    fs.closeSync(fd);
    const pause = hooks.pauseBeforeRename;
    if (pause) {
      const n = Atomics.add(pause, 0, 1);
      while (Atomics.load(pause, 1) <= n) Atomics.wait(pause, 1, Atomics.load(pause, 1), 10);
    }
    let created;
    try {
      created = fs.mkdirSync(dirname(f.path), { recursive: true });
      fs.renameSync(f.tmp, f.path);
    } catch (err) {
      fs.rmSync(f.tmp, { force: true });
      throw err;
    }
    // The new name, and every folder made for it, durable too: a completion must not name a file a crash
    // unnames. mkdir -p answers the first folder it made: each one below it is an entry in its parent, up to
    // that first's.
    let dir = dirname(f.path);
    syncDir(dir);
    if (created) {
      const top = dirname(created);
      while (dir !== top && dir !== dirname(dir)) {
        dir = dirname(dir);
        syncDir(dir);
      }
    }
    return bytes.length;
  }
  if (req.meta) publish(req.meta);
  else if (req.dropMeta) {
    try {
      fs.unlinkSync(req.dropMeta);
    } catch (err) {
      if (!err || err.code !== 'ENOENT') throw err; // none there: the usual case
    }
  }
  return publish(req.object);
}
`;

// The thread: CommonJS evaluated in the worker, so it runs the same under tsx and from a bundle. Each answer
// carries how long the write's steps took (the inline path's evidence: see FileWriter).
const THREAD = `${WRITE_OBJECT}
const fs = require('node:fs');
const { dirname } = require('node:path');
const { parentPort, workerData } = require('node:worker_threads');
const { performance } = require('node:perf_hooks');

parentPort.on('message', (req) => {
  const started = performance.now();
  try {
    const size = writeObject(fs, dirname, req, workerData);
    parentPort.postMessage({ id: req.id, size, ms: performance.now() - started });
  } catch (err) {
    parentPort.postMessage({
      id: req.id,
      error: { message: String(err && err.message), code: err && err.code, syscall: err && err.syscall },
    });
  }
});
`;

/** The same steps on the event loop (the inline path), compiled once from the same text. */
type WriteObject = (
  fs: typeof import('node:fs'),
  dir: typeof dirname,
  req: WriteRequest,
  hooks: WriterTestHooks,
) => number;
const writeObjectInline = new Script(`(function () {${WRITE_OBJECT}\nreturn writeObject;\n})()`, {
  filename: 'file-writer-steps.js',
}).runInThisContext() as WriteObject;

/**
 * The inline path: a write is made on the event loop, with no hop to the thread and back, while the storage has
 * shown its writes to be cheaper than that hop — each of the last INLINE_AFTER_FAST writes (on either path)
 * took at most `inlineMaxMs` (INLINE_MAX_MS), and the object is small (INLINE_MAX_BYTES). On this project's
 * 2-core build machine a hop to the thread and back cost 0.13 ms idle and 0.4 – 0.8 ms beside a busy control
 * plane, while the whole write of a small object on tmpfs took 0.1 – 0.2 ms. A disk whose fsync waits for the
 * device (most SSDs without power-loss protection, network volumes) takes longer than INLINE_MAX_MS and keeps
 * every write on the thread: there the event loop must not wait for the device. One slow write ends the streak,
 * and a slow one made inline (the stall the event loop did pay: a flush that turned slow) doubles the streak the
 * next inline write waits for, up to INLINE_AFTER_FAST_MAX, so storage that turns slow now and then costs the
 * event loop fewer and fewer of its stalls; twice that many fast writes in a row halve it again.
 */
export const INLINE_MAX_MS = 0.5;
export const INLINE_AFTER_FAST = 16;
export const INLINE_AFTER_FAST_MAX = 4096;
export const INLINE_MAX_BYTES = 256 * 1024;

/** The inline path's knobs (tests). */
export interface InlineWriteOptions {
  /** A write counts as fast up to this many ms (INLINE_MAX_MS); 0 keeps every write on the thread. */
  maxMs?: number;
  /** The clock an inline write is timed with, in ms (performance.now). */
  clock?: () => number;
}

interface Pending {
  resolve: (size: number) => void;
  reject: (err: Error) => void;
  tmps: string[];
}

interface Answer {
  id: number;
  size?: number;
  /** How long the write's steps took on the thread. */
  ms?: number;
  error?: { message: string; code?: string; syscall?: string };
}

/** A file the thread holds as its own ArrayBuffer, transferred (not cloned) across. */
interface WireFile {
  path: string;
  tmp: string;
  bytes: ArrayBuffer;
}

/** Copies the bytes once into an ArrayBuffer of their exact size (the caller keeps its Buffer: RecentOutputs holds it). */
function toWire(f: AtomicFile): WireFile {
  const bytes = new ArrayBuffer(f.bytes.length);
  new Uint8Array(bytes).set(f.bytes);
  return { path: f.path, tmp: f.tmp, bytes };
}

function fromWire(e: NonNullable<Answer['error']>): Error {
  const err = new Error(e.message) as Error & { code?: string; syscall?: string };
  if (e.code !== undefined) err.code = e.code;
  if (e.syscall !== undefined) err.syscall = e.syscall;
  return err;
}

/** One thread and the writes it holds. */
interface Thread {
  worker: Worker;
  pending: Map<number, Pending>;
}

export class FileWriter {
  #thread: Thread | null = null;
  #nextId = 0;
  /** How many writes in a row (on either path) took at most #inlineMaxMs. */
  #fastStreak = 0;
  /**
   * The streak an inline write waits for: INLINE_AFTER_FAST, doubled by each slow inline write, halved again by
   * each run of twice that many fast writes (a pause of the process, not of the disk, does not stay counted).
   */
  #inlineAfter = INLINE_AFTER_FAST;
  /** Fast writes in a row since #inlineAfter last moved. */
  #calm = 0;
  /** Thread writes not answered yet, a closing thread's included: an inline write never overtakes one. */
  #outstanding = 0;
  #inlined = 0;
  readonly #inlineMaxMs: number;

  readonly #clock: () => number;

  /** A writer paused by the test hook never writes inline: the pause would stop the event loop. */
  constructor(
    private readonly hooks: WriterTestHooks = {},
    inline: InlineWriteOptions = {},
  ) {
    this.#inlineMaxMs = hooks.pauseBeforeRename === undefined ? (inline.maxMs ?? INLINE_MAX_MS) : 0;
    this.#clock = inline.clock ?? (() => performance.now());
  }

  /** Writes in flight on the current thread (tests, metrics). */
  get inFlight(): number {
    return this.#thread?.pending.size ?? 0;
  }

  /** Writes made on the event loop so far (tests, benchmarks). */
  get inlined(): number {
    return this.#inlined;
  }

  /** Whether a thread is running (started by a write or warm(), not yet stopped by close()). */
  get running(): boolean {
    return this.#thread !== null;
  }

  /** Starts the thread now, so the first put does not wait for it (the storage's check calls this). */
  warm(): void {
    this.#current();
  }

  /** Stores one object; resolves with its size once it is durable and published. */
  write(req: WriteRequest): Promise<number> {
    if (this.#mayInline(req)) {
      const started = this.#clock();
      try {
        const size = writeObjectInline(fs, dirname, req, this.hooks);
        const ms = this.#clock() - started;
        if (ms > this.#inlineMaxMs)
          this.#inlineAfter = Math.min(this.#inlineAfter * 2, INLINE_AFTER_FAST_MAX);
        this.#took(ms);
        this.#inlined += 1;
        return Promise.resolve(size);
      } catch (err) {
        this.#fastStreak = 0;
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
    }
    const thread = this.#current();
    const id = this.#nextId++;
    const object = toWire(req.object);
    const meta = req.meta !== undefined ? toWire(req.meta) : undefined;
    const transfer = meta !== undefined ? [object.bytes, meta.bytes] : [object.bytes];
    const tmps = meta !== undefined ? [object.tmp, meta.tmp] : [object.tmp];
    this.#outstanding += 1;
    return new Promise<number>((resolve, reject) => {
      if (thread.pending.size === 0) thread.worker.ref(); // a write in flight keeps the process alive
      thread.pending.set(id, { resolve, reject, tmps });
      thread.worker.postMessage({ id, object, meta, dropMeta: req.dropMeta }, transfer);
    });
  }

  /**
   * Inline only after a streak of fast writes, for a small object, and with no write waiting on a thread (a
   * closing one's included): a write to a key a thread still holds must land after it. (A write made while a
   * thread closes goes to a new thread, which may finish first: the thread path's own order across a close.)
   */
  #mayInline(req: WriteRequest): boolean {
    if (this.#inlineMaxMs <= 0) return false; // off: a thread paused by the test hook must never be bypassed
    const bytes = req.object.bytes.length + (req.meta?.bytes.length ?? 0);
    return this.#fastStreak >= this.#inlineAfter && this.#outstanding === 0 && bytes <= INLINE_MAX_BYTES;
  }

  #took(ms: number): void {
    if (ms > this.#inlineMaxMs) {
      this.#fastStreak = 0;
      this.#calm = 0;
      return;
    }
    this.#fastStreak += 1;
    this.#calm += 1;
    if (this.#calm >= 2 * this.#inlineAfter && this.#inlineAfter > INLINE_AFTER_FAST) {
      this.#inlineAfter /= 2;
      this.#calm = 0;
    }
  }

  #current(): Thread {
    if (this.#thread !== null) return this.#thread;
    const worker = new Worker(THREAD, {
      eval: true,
      // No flags of this process (an --import loader, --input-type=module): the thread is plain CommonJS.
      execArgv: [],
      workerData: { pauseBeforeRename: this.hooks.pauseBeforeRename, syncedDirs: this.hooks.syncedDirs },
    });
    const thread: Thread = { worker, pending: new Map() };
    worker.on('message', (a: Answer) => this.#answered(thread, a));
    let why = 'exited';
    worker.on('error', (err) => {
      why = `failed (${err.message})`;
    });
    worker.on('exit', (code) => this.#died(thread, `${why} (exit code ${code})`));
    // After the listeners: adding a 'message' listener refs the worker's port again.
    worker.unref();
    this.#thread = thread;
    return thread;
  }

  #answered(thread: Thread, a: Answer): void {
    const p = thread.pending.get(a.id);
    if (p === undefined) return;
    thread.pending.delete(a.id);
    this.#outstanding -= 1;
    if (thread.pending.size === 0) thread.worker.unref();
    if (a.error !== undefined) {
      this.#fastStreak = 0;
      p.reject(fromWire(a.error));
    } else {
      if (a.ms !== undefined) this.#took(a.ms);
      p.resolve(a.size ?? 0);
    }
  }

  /** Fails the writes the dead thread held, after removing their temp files; the next write starts a new thread. */
  #died(thread: Thread, why: string): void {
    if (this.#thread === thread) this.#thread = null;
    const lost = [...thread.pending.values()];
    thread.pending.clear();
    this.#outstanding -= lost.length;
    for (const p of lost) {
      void Promise.all(p.tmps.map((t) => rm(t, { force: true }).catch(() => undefined))).then(() =>
        p.reject(new WriterDiedError(why)),
      );
    }
  }

  /**
   * Lets the writes in flight finish, then stops the thread; a write after (or during) close starts a new one.
   * A slow disk does not hold a shutdown: after `graceMs` the thread is stopped and the writes it still holds
   * fail with WriterDiedError (their temp files removed). A thread blocked inside one system call (a hung NFS
   * mount in fdatasync) cannot be stopped: terminate(), and the process's exit, wait for that call to return.
   */
  async close(graceMs = 10_000): Promise<void> {
    const thread = this.#thread;
    if (thread === null) return;
    this.#thread = null;
    const settled = [...thread.pending.values()].map(
      (p) =>
        new Promise<void>((done) => {
          const { resolve, reject } = p;
          p.resolve = (size) => (resolve(size), done());
          p.reject = (err) => (reject(err), done());
        }),
    );
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([Promise.all(settled), grace]);
    clearTimeout(timer);
    await thread.worker.terminate();
  }

  /** Test hook: kills the thread as a crash would. */
  async terminateForTest(): Promise<void> {
    await this.#thread?.worker.terminate();
  }
}
