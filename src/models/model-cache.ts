/**
 * The agent's model cache: the registered model files a job needs, fetched into its ComfyUI's `models/<kind
 * folder>/` before the job runs. A download streams into a hidden temp file beside its target, is checked
 * against the registered size and sha256, and only then renamed into place: ComfyUI never sees a partial or
 * corrupt file. A bad download is deleted and retried. Files the cache fetched are evicted least recently
 * used first to stay under the disk budget; files the operator put there are reported but never evicted.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import type { ModelFile } from '../store/contract.js';
import { KIND_FOLDERS, MODEL_KINDS, type ModelKind, type ModelRef } from './model-refs.js';
import { openModelSource, redactUrl, type SourceOptions } from './model-source.js';

/** Thrown when a job's file is neither on disk nor fetchable (the job then fails `model_fetch_failed`). */
export class ModelFetchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelFetchError';
  }
}

export interface ModelCacheOptions {
  /** The ComfyUI's `models/` folder. */
  dir: string;
  /** Disk budget for fetched files, in bytes. */
  budgetBytes: number;
  /** Attempts per file before giving up (default 3). */
  attempts?: number;
  /** Longest one download may take (default 30 min). */
  downloadTimeoutMs?: number;
  source?: SourceOptions;
  /** Download progress (bytes so far of total), at most every 2 s per file. */
  onProgress?: (name: string, bytes: number, total: number) => void;
  /** Each refused download (sha256 or size mismatch, source error) before a retry. */
  onRetry?: (name: string, attempt: number, reason: string) => void;
}

const manifestSchema = z.record(
  z.string(),
  z.object({ kind: z.enum(MODEL_KINDS), size: z.number(), lastUsed: z.number() }),
);
type Manifest = z.infer<typeof manifestSchema>;
const MANIFEST = '.arrakis-model-cache.json';

/** How one `ensure` call fetches (a job's fetch takes the cache's defaults; a background prefetch its own). */
export interface EnsureOptions {
  /** Download attempts per file (default: the cache's `attempts`). */
  attempts?: number;
  /** Stops the fetch: the current download is aborted and `ensure` throws. */
  signal?: AbortSignal;
}

/** What `ensure` did. */
export interface EnsureResult {
  fetched: string[];
  fetchSeconds: number;
}

export class ModelCache {
  private manifest: Manifest | null = null;

  constructor(private readonly options: ModelCacheOptions) {}

  /** The path of `name` in `kind`'s folder; throws when the name would leave it. */
  pathOf(kind: ModelKind, name: string): string {
    const folder = resolve(this.options.dir, KIND_FOLDERS[kind]);
    const path = resolve(folder, name);
    const rel = relative(folder, path);
    if (rel === '' || rel.startsWith('..') || rel.split(sep).some((p) => p === '..' || p.startsWith('.'))) {
      throw new ModelFetchError(`model name "${name}" is not a plain file name`);
    }
    return path;
  }

  /** Every model file on disk under the kind folders (names relative to their folder, `/`-separated). */
  async onDisk(): Promise<string[]> {
    const out = new Set<string>();
    for (const folder of new Set(Object.values(KIND_FOLDERS))) {
      const root = join(this.options.dir, folder);
      const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
      for (const e of entries) {
        if (!e.isFile() || e.name.startsWith('.')) continue;
        out.add(relative(root, join(e.parentPath, e.name)).split(sep).join('/'));
      }
    }
    return [...out].sort();
  }

  /**
   * Makes every file of `refs` present: files on disk are marked used; missing ones are looked up with
   * `lookup` (the registry) and fetched. Throws ModelFetchError naming the file that cannot be had, or the
   * signal's reason once `how.signal` aborts.
   */
  async ensure(
    refs: readonly ModelRef[],
    lookup: (name: string) => Promise<ModelFile | null>,
    how: EnsureOptions = {},
  ): Promise<EnsureResult> {
    const manifest = await this.load();
    const started = Date.now();
    const fetched: string[] = [];
    for (const ref of refs) {
      how.signal?.throwIfAborted();
      const path = this.pathOf(ref.kind, ref.name);
      if (await exists(path)) {
        const entry = manifest[ref.name];
        if (entry !== undefined) entry.lastUsed = this.tick(manifest);
        continue;
      }
      const file = await lookup(ref.name);
      if (file === null)
        throw new ModelFetchError(`model file "${ref.name}" is not on this worker and not registered`);
      await this.makeRoom(file.size, new Set(refs.map((r) => r.name)));
      await this.fetchVerified(file, path, how);
      manifest[ref.name] = { kind: ref.kind, size: file.size, lastUsed: this.tick(manifest) };
      fetched.push(ref.name);
    }
    await this.save();
    return { fetched, fetchSeconds: fetched.length === 0 ? 0 : (Date.now() - started) / 1000 };
  }

  /** A use time later than every recorded one (two uses in one millisecond must still be ordered). */
  private tick(manifest: Manifest): number {
    return Math.max(Date.now(), ...Object.values(manifest).map((e) => e.lastUsed + 1));
  }

  /** Fetches `file` into `path` with retries; the final name appears only after the checks pass. */
  private async fetchVerified(file: ModelFile, path: string, how: EnsureOptions): Promise<void> {
    const attempts = how.attempts ?? this.options.attempts ?? 3;
    let last = '';
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const temp = join(dirname(path), `.${randomBytes(6).toString('hex')}.part`);
      try {
        await mkdir(dirname(path), { recursive: true });
        await this.download(file, temp, how.signal);
        await rename(temp, path);
        return;
      } catch (err) {
        await rm(temp, { force: true });
        how.signal?.throwIfAborted();
        last = err instanceof Error ? err.message : String(err);
        if (attempt < attempts) this.options.onRetry?.(file.name, attempt, last);
      }
    }
    throw new ModelFetchError(
      `fetching "${file.name}" from ${redactUrl(file.url)} failed ${attempts} times: ${last}`,
    );
  }

  private async download(file: ModelFile, temp: string, stop?: AbortSignal): Promise<void> {
    const timeout = AbortSignal.timeout(this.options.downloadTimeoutMs ?? 30 * 60_000);
    const signal = stop === undefined ? timeout : AbortSignal.any([timeout, stop]);
    const body = await openModelSource(file.url, signal, this.options.source);
    const hash = createHash('sha256');
    let bytes = 0;
    let reported = 0;
    const meter = new Transform({
      transform: (chunk: Buffer, _enc, done) => {
        bytes += chunk.length;
        if (bytes > file.size) return done(new Error(`more than the registered ${file.size} bytes`));
        hash.update(chunk);
        if (Date.now() - reported >= 2000) {
          reported = Date.now();
          this.options.onProgress?.(file.name, bytes, file.size);
        }
        done(null, chunk);
      },
    });
    await pipeline(body, meter, createWriteStream(temp, { flags: 'wx' }), { signal });
    if (bytes !== file.size) throw new Error(`got ${bytes} bytes, registered size is ${file.size}`);
    const digest = hash.digest('hex');
    if (digest !== file.sha256) throw new Error(`sha256 mismatch (got ${digest})`);
  }

  /** Evicts least recently used fetched files (never one in `keep`) until `incoming` more bytes fit. */
  private async makeRoom(incoming: number, keep: ReadonlySet<string>): Promise<void> {
    const manifest = await this.load();
    const used = (): number => Object.values(manifest).reduce((sum, e) => sum + e.size, 0);
    const byAge = Object.entries(manifest)
      .filter(([name]) => !keep.has(name))
      .sort(([, a], [, b]) => a.lastUsed - b.lastUsed);
    for (const [name, entry] of byAge) {
      if (used() + incoming <= this.options.budgetBytes) break;
      await rm(this.pathOf(entry.kind, name), { force: true });
      delete manifest[name];
    }
  }

  private async load(): Promise<Manifest> {
    if (this.manifest !== null) return this.manifest;
    const text = await readFile(join(this.options.dir, MANIFEST), 'utf8').catch(() => '{}');
    let parsed: unknown = {};
    try {
      parsed = JSON.parse(text);
    } catch {
      // A torn manifest forgets which files the cache fetched; they stay, reported as the operator's.
    }
    const result = manifestSchema.safeParse(parsed);
    this.manifest = result.success ? result.data : {};
    return this.manifest;
  }

  private async save(): Promise<void> {
    const manifest = await this.load();
    await mkdir(this.options.dir, { recursive: true });
    const temp = join(this.options.dir, `${MANIFEST}.${randomBytes(4).toString('hex')}`);
    await writeFile(temp, JSON.stringify(manifest));
    await rename(temp, join(this.options.dir, MANIFEST));
  }
}

async function exists(path: string): Promise<boolean> {
  return await stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
}
