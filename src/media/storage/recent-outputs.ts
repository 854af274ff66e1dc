/**
 * A bounded in-memory copy of the small job outputs this process stored recently, in front of the storage
 * that serves bytes itself (file:). A client that heard `done` asks for the output within milliseconds; the
 * bytes passed through this process on their way to storage, so the download needs no open/read/close
 * round trips through libuv's thread pool.
 *
 * Filled only by `put` of this process, after the backend stored the object (an object is durable before it
 * is cached); `get` answers from memory only what was put here, the same bytes (held, not copied, unless they are a view
 * on a larger buffer: a caller never changes a Buffer it stored). Evicted by least recent use
 * beyond the byte budget or the entry cap, after `ttlMs` (so another replica's retention, days later, never leaves a copy
 * served here), and by `deletePrefix` (a failed job's files, retention). A put that overlaps a deletePrefix
 * covering its key holds nothing: the backend may have deleted its file before or after it landed. It is below the API: the download
 * route's auth and ownership checks run before any `get`, exactly as without it.
 */
import { Readable } from 'node:stream';
import type { FoundObject, KnownObject, ObjectStorage, StoredObject } from './contract.js';

export interface RecentOutputsOptions {
  /** Total bytes held (default 64 MiB). */
  maxBytes?: number;
  /**
   * Objects held (default 16,384): the byte budget alone would let empty or tiny outputs pile up without bound,
   * each entry costing far more than its bytes (and an expired one is only dropped when read or evicted).
   */
  maxEntries?: number;
  /** Larger objects are not held (default 1 MiB). */
  maxObjectBytes?: number;
  /** How long an object is held after it was stored (default 10 minutes). */
  ttlMs?: number;
  now?: () => number;
}

interface Held {
  bytes: Buffer;
  contentType: string;
  storedAt: number;
}

/** Job outputs only (`jobs/<id>/outputs/…`): inputs are read once by a worker, not downloaded by clients. */
const OUTPUT_KEY = /^jobs\/[^/]+\/outputs\//;

/**
 * `bytes` in memory of their own: a Buffer that is a view on a larger one (a small request body sits in Node's
 * shared 8 KiB pool) would keep all of it alive while the budget counts only the view, so it is copied once.
 */
function ownMemory(bytes: Buffer): Buffer {
  if (bytes.byteLength === bytes.buffer.byteLength) return bytes;
  const own = Buffer.allocUnsafeSlow(bytes.byteLength);
  bytes.copy(own);
  return own;
}

/** A put on its way to the backend; `deleted` once a deletePrefix covering its key started meanwhile. */
interface PutInFlight {
  key: string;
  deleted: boolean;
}

/** An ObjectStorage that serves recently stored small outputs from memory (see the module comment). */
export class RecentOutputs implements ObjectStorage {
  private readonly held = new Map<string, Held>();
  private bytes = 0;
  private readonly puts = new Set<PutInFlight>();
  /** The prefixes being deleted now (a prefix deleted twice at once is counted twice). */
  private readonly deleting = new Map<string, number>();
  private readonly maxBytes: number;
  private readonly maxEntries: number;
  private readonly maxObjectBytes: number;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(
    /** The storage behind the copies. */
    readonly backend: ObjectStorage,
    options: RecentOutputsOptions = {},
  ) {
    this.maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
    this.maxEntries = options.maxEntries ?? 16_384;
    this.maxObjectBytes = Math.min(options.maxObjectBytes ?? 1024 * 1024, this.maxBytes);
    this.ttlMs = options.ttlMs ?? 10 * 60_000;
    this.now = options.now ?? Date.now;
  }

  /** Bytes held now (metrics, tests). */
  get heldBytes(): number {
    return this.bytes;
  }

  async put(key: string, body: Buffer | Readable, contentType: string): Promise<StoredObject> {
    this.drop(key); // a put in flight must never leave the previous bytes behind
    const put: PutInFlight = { key, deleted: false };
    this.puts.add(put);
    let stored: StoredObject;
    try {
      stored = await this.backend.put(key, body, contentType);
    } finally {
      this.puts.delete(put);
    }
    if (put.deleted || this.beingDeleted(key)) return stored;
    if (Buffer.isBuffer(body) && body.length === stored.size && this.worthHolding(key, stored.size)) {
      this.hold(key, { bytes: ownMemory(body), contentType: stored.contentType, storedAt: this.now() });
    }
    return stored;
  }

  async get(key: string, known?: KnownObject, signal?: AbortSignal): Promise<FoundObject | null> {
    const held = this.held.get(key);
    if (held !== undefined) {
      // A copy that is not what the caller recorded (another replica replaced the object) is not served.
      const recorded =
        known === undefined || (known.size === held.bytes.length && known.contentType === held.contentType);
      if (recorded && this.now() - held.storedAt < this.ttlMs) {
        // Most recently used last.
        this.held.delete(key);
        this.held.set(key, held);
        const { bytes, contentType } = held;
        return { body: Readable.from([bytes]), size: bytes.length, contentType, bytes };
      }
      this.drop(key);
    }
    return await this.backend.get(key, known, signal);
  }

  async deletePrefix(prefix: string): Promise<number> {
    return await this.whileDeleting([prefix], () => this.backend.deletePrefix(prefix));
  }

  list(prefix: string): Promise<string[]> {
    return this.backend.list(prefix);
  }

  /** As deletePrefix for each key (a key counts as a prefix of itself here: a copy is never held wrongly). */
  async deleteKeys(keys: readonly string[]): Promise<number> {
    return await this.whileDeleting(keys, () => this.backend.deleteKeys(keys));
  }

  /** Runs the backend's `remove` with every copy and put in flight under `prefixes` forgotten meanwhile. */
  private async whileDeleting(prefixes: readonly string[], remove: () => Promise<number>): Promise<number> {
    const covers = (key: string): boolean => prefixes.some((p) => key.startsWith(p));
    for (const key of [...this.held.keys()]) if (covers(key)) this.drop(key);
    for (const put of this.puts) if (covers(put.key)) put.deleted = true;
    for (const prefix of prefixes) this.deleting.set(prefix, (this.deleting.get(prefix) ?? 0) + 1);
    try {
      return await remove();
    } finally {
      for (const prefix of prefixes) {
        const n = (this.deleting.get(prefix) ?? 1) - 1;
        if (n > 0) this.deleting.set(prefix, n);
        else this.deleting.delete(prefix);
      }
    }
  }

  private beingDeleted(key: string): boolean {
    for (const prefix of this.deleting.keys()) if (key.startsWith(prefix)) return true;
    return false;
  }

  presignedGetUrl(key: string, ttlSeconds: number): Promise<string | null> {
    return this.backend.presignedGetUrl(key, ttlSeconds);
  }

  check(): Promise<void> {
    return this.backend.check();
  }

  /** Stops the storage behind (its writes in flight finish first) and lets the held copies go. */
  async close(): Promise<void> {
    await this.backend.close?.();
    this.held.clear();
    this.bytes = 0;
  }

  private worthHolding(key: string, size: number): boolean {
    return size <= this.maxObjectBytes && OUTPUT_KEY.test(key);
  }

  private hold(key: string, held: Held): void {
    this.drop(key);
    this.held.set(key, held);
    this.bytes += held.bytes.length;
    for (const [oldest, h] of this.held) {
      if (this.bytes <= this.maxBytes && this.held.size <= this.maxEntries) break;
      this.held.delete(oldest);
      this.bytes -= h.bytes.length;
    }
  }

  private drop(key: string): void {
    const held = this.held.get(key);
    if (held === undefined) return;
    this.held.delete(key);
    this.bytes -= held.bytes.length;
  }
}
