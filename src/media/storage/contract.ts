/**
 * Object storage for job inputs and outputs: one small contract, backed by a local folder (`file:`)
 * or S3/R2 (`s3:`). Keys are relative paths made of safe segments (e.g. `jobs/<job id>/outputs/0-out.png`);
 * an implementation rejects any key that could escape its root.
 */
import type { Readable } from 'node:stream';

export interface StoredObject {
  key: string;
  size: number;
  contentType: string;
}

/** What the caller recorded about an object when it was stored. */
export interface KnownObject {
  size: number;
  contentType: string;
}

/** An object `get` found. */
export interface FoundObject {
  body: Readable;
  size: number;
  contentType: string;
  /** The whole object, when the backend already holds it in memory: send it instead of `body`. */
  bytes?: Buffer;
}

export interface ObjectStorage {
  /** Writes the object atomically (readers never see a partial object). */
  put(key: string, body: Buffer | Readable, contentType: string): Promise<StoredObject>;
  /**
   * The object's bytes as a stream, or null when it does not exist. `known`: the size and content type the
   * caller recorded when it stored the object (a job's output), which lets a backend skip reading them.
   * `signal`: the caller no longer wants it (a backend that waits on the network stops the request).
   */
  get(key: string, known?: KnownObject, signal?: AbortSignal): Promise<FoundObject | null>;
  /** Deletes every object whose key starts with `prefix` (used by retention). */
  deletePrefix(prefix: string): Promise<number>;
  /**
   * The keys of every object whose key starts with `prefix`, in no particular order: one listing (on S3 one
   * request per 1000 keys), so a caller that picks what to delete among a job's files lists them once.
   */
  list(prefix: string): Promise<string[]>;
  /**
   * Deletes exactly these objects (a missing one is no error); answers how many it deleted. On S3 that is how
   * many it asked to delete: S3 answers a delete of a missing key as a success.
   */
  deleteKeys(keys: readonly string[]): Promise<number>;
  /** A time-limited URL a client may GET directly, or null when the backend serves bytes itself (file:). */
  presignedGetUrl(key: string, ttlSeconds: number): Promise<string | null>;
  /** Checks the backend is reachable (bucket exists, folder writable). */
  check(): Promise<void>;
  /** Lets the writes in flight finish and releases what the backend holds (file: its writer thread; s3: sockets). */
  close?(): void | Promise<void>;
}
