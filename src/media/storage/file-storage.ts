/**
 * `file:` object storage: a folder on local disk. Objects are written to `<root>/.tmp/` and renamed into
 * place (rename is atomic on one filesystem), so a reader sees the old object, the new one or none, never
 * a partial file. The content type is implied by the key's extension for common types; any other type lives
 * beside the object in `<root>/.meta/<key>.json` (one write per object on the hot path, not two).
 * A Buffer body (a job's output) is written by one worker thread in one hop (file-writer.ts), with the same
 * steps and guarantees; a stream body is written here through fs/promises.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, rm, rmdir, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { contentTypeFromName } from '../content-types.js';
import type { FoundObject, KnownObject, ObjectStorage, StoredObject } from './contract.js';
import { FileWriter, type InlineWriteOptions, type WriterTestHooks } from './file-writer.js';
import { assertValidKey, assertValidPrefix } from './object-key.js';

const TMP_DIR = '.tmp';
const META_DIR = '.meta';
const DEFAULT_TYPE = 'application/octet-stream';
const MetaSchema = z.object({ contentType: z.string() });
/**
 * A temp file older than this is a write that will never finish (its process was killed mid-put): removed at
 * check(). Far above any write's life (an upload's 5 minutes, a download's 1 h cap), since several processes may
 * share the folder and one's write in flight must not be taken from it.
 */
const ABANDONED_TMP_MS = 24 * 60 * 60 * 1000;
/** Objects up to this size are read in one step rather than streamed. */
const SMALL_OBJECT_BYTES = 1024 * 1024;

function isMissing(err: unknown): boolean {
  const code = err instanceof Error && 'code' in err ? err.code : undefined;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR';
}

/** Writes the body and returns its size in bytes (no stat afterwards: one file-system round trip fewer). */
async function writeBody(fh: FileHandle, body: Buffer | Readable): Promise<number> {
  if (Buffer.isBuffer(body)) {
    await fh.writeFile(body);
    return body.length;
  }
  let size = 0;
  for await (const chunk of body) {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    await fh.write(bytes);
    size += bytes.length;
  }
  return size;
}

/** Every file below `dir` (absolute paths); a missing folder has none. */
async function walk(dir: string, skipDotDirs: boolean): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (isMissing(err)) return [];
    throw err;
  }
  const out: string[] = [];
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) {
      if (!(skipDotDirs && e.name.startsWith('.'))) out.push(...(await walk(path, false)));
    } else if (e.isFile()) {
      out.push(path);
    }
  }
  return out;
}

/**
 * Larger Buffer bodies are written through fs/promises, as streams are: the writer thread copies what it is given
 * (the caller keeps its Buffer) and writes one object at a time, so a video there would double its memory and
 * hold every small output queued behind its write.
 */
const WRITER_MAX_BYTES = 8 * 1024 * 1024;

export interface FileStorageOptions {
  /** Write Buffer bodies on a worker thread (default) or on the event loop through fs/promises (benchmarks). */
  writerThread?: boolean;
  /** The largest Buffer body written on the thread (default 8 MiB). */
  writerMaxBytes?: number;
  writerTestHooks?: WriterTestHooks;
  /** The writer's inline path (file-writer.ts: small objects written on the event loop while writes are fast). */
  inlineWrites?: InlineWriteOptions;
}

export class FileStorage implements ObjectStorage {
  readonly root: string;
  /** The temp folder is created once (it is never pruned); object folders may be pruned by deletePrefix. */
  private tmpReady = false;
  /** Writes Buffer bodies off the event loop (file-writer.ts); null: on it, through fs/promises. */
  private readonly writer: FileWriter | null;
  private readonly writerMaxBytes: number;
  /** Test-only: counts folders fsynced after a rename (WriterTestHooks.syncedDirs). */
  private readonly syncedDirs: Int32Array | undefined;

  constructor(root: string, options: FileStorageOptions = {}) {
    this.root = resolve(root);
    this.writer =
      options.writerThread === false ? null : new FileWriter(options.writerTestHooks, options.inlineWrites);
    this.syncedDirs = options.writerTestHooks?.syncedDirs;
    this.writerMaxBytes = options.writerMaxBytes ?? WRITER_MAX_BYTES;
  }

  /** The writer thread (tests); null when Buffer bodies are written on the event loop. */
  get writerThread(): FileWriter | null {
    return this.writer;
  }

  /** Lets the writes in flight finish and stops the writer thread (an idle one never holds the process open). */
  async close(): Promise<void> {
    await this.writer?.close();
  }

  private pathOf(key: string): string {
    assertValidKey(key);
    return join(this.root, ...key.split('/'));
  }

  private metaPathOf(key: string): string {
    return `${join(this.root, META_DIR, ...key.split('/'))}.json`;
  }

  /** A fresh temp file name under `<root>/.tmp/` (both write paths). */
  private tmpPath(): string {
    return join(this.root, TMP_DIR, randomBytes(12).toString('hex'));
  }

  /**
   * Writes `body` to a temp file, syncs its data, then renames it over `path`; returns the size. `before`
   * (and the object's folder) are made ready while the temp file is written: each file-system step is a trip
   * through libuv's thread pool, and the output store sits on every job's path to `done`.
   */
  private async writeAtomic(
    path: string,
    body: Buffer | Readable,
    before: Promise<unknown> = Promise.resolve(),
  ): Promise<number> {
    const tmp = this.tmpPath();
    const ready = Promise.all([mkdir(dirname(path), { recursive: true }), before]);
    ready.catch(() => undefined); // awaited below; this only keeps an early failure from going unhandled
    if (!this.tmpReady) {
      await mkdir(dirname(tmp), { recursive: true });
      this.tmpReady = true;
    }
    const fh = await open(tmp, 'wx');
    let size: number;
    try {
      size = await writeBody(fh, body);
      // The data is durable before the rename publishes it (and before the job that names it completes).
      await fh.datasync();
    } catch (err) {
      await fh.close();
      await rm(tmp, { force: true });
      await ready.catch(() => undefined);
      throw err;
    }
    // The rename does not wait for the close (POSIX renames an open file): one thread-pool trip fewer in
    // sequence, and each costs most on a busy machine.
    const closed = fh.close();
    let created: string | undefined;
    try {
      [created] = await ready;
      await rename(tmp, path);
    } catch (err) {
      await closed.catch(() => undefined);
      await rm(tmp, { force: true });
      throw err;
    }
    await closed;
    // The new name, and every folder made for it, durable too: a completion must not name a file a crash
    // unnames. mkdir -p answers the first folder it made: each one below it is an entry in its parent.
    let dir = dirname(path);
    await syncDir(dir, this.syncedDirs);
    if (created !== undefined) {
      const top = dirname(created);
      while (dir !== top && dir !== dirname(dir)) {
        dir = dirname(dir);
        await syncDir(dir, this.syncedDirs);
      }
    }
    return size;
  }

  async put(key: string, body: Buffer | Readable, contentType: string): Promise<StoredObject> {
    const path = this.pathOf(key);
    if (Buffer.isBuffer(body) && this.writer !== null && body.length <= this.writerMaxBytes) {
      // A whole object (an output, an upload) in one hop to the writer thread: the same steps, in the same order.
      const metaPath = this.metaPathOf(key);
      const sidecar =
        contentTypeFromName(key) === contentType
          ? { dropMeta: metaPath }
          : {
              meta: {
                path: metaPath,
                tmp: this.tmpPath(),
                bytes: Buffer.from(JSON.stringify({ contentType })),
              },
            };
      const size = await this.writer.write({
        object: { path, tmp: this.tmpPath(), bytes: body },
        ...sidecar,
      });
      return { key, size, contentType };
    }
    // Metadata first: an object is never visible without its content type. With no sidecar needed, one a
    // previous object under this key may have left is dropped while the new bytes are written.
    let before: Promise<unknown>;
    if (contentTypeFromName(key) === contentType) {
      before = rm(this.metaPathOf(key), { force: true });
    } else {
      await this.writeAtomic(this.metaPathOf(key), Buffer.from(JSON.stringify({ contentType })));
      before = Promise.resolve();
    }
    const size = await this.writeAtomic(path, body, before);
    return { key, size, contentType };
  }

  private async contentTypeOf(key: string): Promise<string> {
    try {
      const raw: unknown = JSON.parse(await readFile(this.metaPathOf(key), 'utf8'));
      const meta = MetaSchema.safeParse(raw);
      return meta.success ? meta.data.contentType : DEFAULT_TYPE;
    } catch {
      return contentTypeFromName(key) ?? DEFAULT_TYPE;
    }
  }

  async get(key: string, known?: KnownObject): Promise<FoundObject | null> {
    const path = this.pathOf(key);
    if (known !== undefined && known.size <= SMALL_OBJECT_BYTES) {
      const found = await this.readKnown(path, known);
      if (found !== undefined) return found;
    }
    // The sidecar is read while the object opens: each file-system step is a trip through libuv's thread pool,
    // and a download sits on a client's path to its results.
    const [fh, contentType] = await Promise.all([
      open(path, 'r').catch((err: unknown) => {
        if (isMissing(err)) return null;
        throw err;
      }),
      this.contentTypeOf(key),
    ]);
    if (fh === null) return null;
    let st;
    try {
      st = await fh.stat();
    } catch (err) {
      await fh.close();
      throw err;
    }
    if (!st.isFile()) {
      await fh.close();
      return null;
    }
    if (st.size > SMALL_OBJECT_BYTES) return { body: fh.createReadStream(), size: st.size, contentType };
    // A small object (a typical image) in one read instead of a stream's reads and close.
    try {
      const bytes = Buffer.alloc(st.size);
      const { bytesRead } = await fh.read(bytes, 0, st.size, 0);
      const read = bytes.subarray(0, bytesRead);
      return { body: Readable.from([read]), size: bytesRead, contentType, bytes: read };
    } finally {
      fh.close().catch(() => undefined);
    }
  }

  /**
   * A small object whose size and type the caller recorded: open and one read, with no sidecar read and no
   * stat (each a trip through the thread pool). Reading one byte more than recorded proves the size; any
   * other answer (a replaced object) leaves it to the general path (undefined).
   */
  private async readKnown(path: string, known: KnownObject): Promise<FoundObject | null | undefined> {
    const fh = await open(path, 'r').catch((err: unknown) => {
      if (isMissing(err)) return null;
      throw err;
    });
    if (fh === null) return null;
    try {
      const bytes = Buffer.allocUnsafe(known.size + 1);
      const { bytesRead } = await fh.read(bytes, 0, known.size + 1, 0);
      if (bytesRead !== known.size) return undefined;
      const read = bytes.subarray(0, bytesRead);
      return { body: Readable.from([read]), size: bytesRead, contentType: known.contentType, bytes: read };
    } catch (err) {
      if (isMissing(err)) return null; // a folder where the object should be
      throw err;
    } finally {
      fh.close().catch(() => undefined);
    }
  }

  async deletePrefix(prefix: string): Promise<number> {
    return await this.deleteKeys(await this.list(prefix));
  }

  async list(prefix: string): Promise<string[]> {
    assertValidPrefix(prefix);
    const dirKey = prefix.slice(0, Math.max(0, prefix.lastIndexOf('/')));
    const start = join(this.root, ...dirKey.split('/').filter((s) => s !== ''));
    const keys: string[] = [];
    for (const file of await walk(start, dirKey === '')) {
      const key = relative(this.root, file).split(sep).join('/');
      if (key.startsWith(prefix)) keys.push(key);
    }
    return keys;
  }

  async deleteKeys(keys: readonly string[]): Promise<number> {
    let deleted = 0;
    for (const key of keys) {
      const file = this.pathOf(key);
      const removed = await rm(file).then(
        () => true,
        (err: unknown) => {
          if (isMissing(err)) return false;
          throw err;
        },
      );
      if (!removed) continue;
      await rm(this.metaPathOf(key), { force: true });
      await this.pruneEmptyDirs(dirname(file), this.root);
      await this.pruneEmptyDirs(dirname(this.metaPathOf(key)), join(this.root, META_DIR));
      deleted++;
    }
    return deleted;
  }

  /** Removes now-empty folders from `dir` up to (not including) `stop`. */
  private async pruneEmptyDirs(dir: string, stop: string): Promise<void> {
    for (let d = dir; d.startsWith(stop + sep); d = dirname(d)) {
      try {
        await rmdir(d);
      } catch {
        return; // not empty (or already gone): stop climbing
      }
    }
  }

  async presignedGetUrl(): Promise<string | null> {
    return null;
  }

  async check(): Promise<void> {
    const probe = join(this.root, TMP_DIR, `check-${randomBytes(6).toString('hex')}`);
    await mkdir(dirname(probe), { recursive: true });
    const fh = await open(probe, 'wx');
    await fh.close();
    await rm(probe);
    await this.removeAbandonedTemps();
    this.writer?.warm(); // a serving process checks its storage at start: the first output need not wait
  }

  /** Removes the temp files of writes a killed process left behind (each a whole object's bytes, never reused). */
  private async removeAbandonedTemps(): Promise<void> {
    const dir = join(this.root, TMP_DIR);
    const cutoff = Date.now() - ABANDONED_TMP_MS;
    for (const name of await readdir(dir)) {
      const path = join(dir, name);
      const st = await stat(path).catch(() => null); // gone meanwhile: its write finished
      if (st !== null && st.isFile() && st.mtimeMs < cutoff) await rm(path, { force: true });
    }
  }
}

/** fsyncs a folder, making the entries renamed or made in it durable (file-writer.ts does the same in its thread). */
async function syncDir(dir: string, counter: Int32Array | undefined): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  if (counter !== undefined) Atomics.add(counter, 0, 1);
}
