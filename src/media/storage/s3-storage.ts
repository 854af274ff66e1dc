/**
 * `s3:` object storage over the AWS SDK v3, tuned to work with R2, MinIO and other S3-compatible servers:
 * checksums only WHEN_REQUIRED (the SDK's newer default CRC trailers are not understood everywhere),
 * optional path-style addressing, a custom endpoint and a key prefix. Outputs are served by presigned GET.
 */
import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { KnownObject, ObjectStorage, StoredObject } from './contract.js';
import { assertValidKey, assertValidPrefix } from './object-key.js';

export interface S3StorageOptions {
  bucket: string;
  /** Prepended to every key, e.g. `arrakis/` (a trailing slash is added when missing). */
  prefix?: string;
  endpoint?: string;
  region?: string;
  forcePathStyle?: boolean;
  /** Explicit credentials; by default the SDK reads the standard AWS environment variables. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Upper bound on a presigned URL's lifetime in seconds (default 3600). */
  presignTtlSeconds?: number;
}

const DELETE_CONCURRENCY = 8;

function isNotFound(err: unknown): boolean {
  return (
    err instanceof S3ServiceException &&
    (err.name === 'NoSuchKey' || err.name === 'NotFound' || err.$metadata.httpStatusCode === 404)
  );
}

async function toBuffer(body: Buffer | Readable): Promise<Buffer> {
  if (Buffer.isBuffer(body)) return body;
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks);
}

export class S3Storage implements ObjectStorage {
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly maxTtl: number;

  constructor(opts: S3StorageOptions) {
    this.bucket = opts.bucket;
    const p = opts.prefix ?? '';
    this.prefix = p === '' || p.endsWith('/') ? p : `${p}/`;
    this.maxTtl = opts.presignTtlSeconds ?? 3600;
    this.client = new S3Client({
      region: opts.region ?? 'us-east-1',
      ...(opts.endpoint !== undefined ? { endpoint: opts.endpoint } : {}),
      ...(opts.credentials !== undefined ? { credentials: opts.credentials } : {}),
      forcePathStyle: opts.forcePathStyle ?? false,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  private fullKey(key: string): string {
    assertValidKey(key);
    return this.prefix + key;
  }

  async put(key: string, body: Buffer | Readable, contentType: string): Promise<StoredObject> {
    const Key = this.fullKey(key);
    // PutObject needs a length up front; inputs and outputs are bounded, so buffering is fine.
    const bytes = await toBuffer(body);
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key,
        Body: bytes,
        ContentType: contentType,
        ContentLength: bytes.length,
      }),
    );
    return { key, size: bytes.length, contentType };
  }

  async get(
    key: string,
    _known?: KnownObject,
    signal?: AbortSignal,
  ): Promise<{ body: Readable; size: number; contentType: string } | null> {
    try {
      const res = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.fullKey(key) }),
        signal === undefined ? {} : { abortSignal: signal },
      );
      if (!(res.Body instanceof Readable)) throw new Error(`S3 GetObject for ${key} returned no stream`);
      return {
        body: res.Body,
        size: res.ContentLength ?? 0,
        contentType: res.ContentType ?? 'application/octet-stream',
      };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  /** Keys under `prefix`, one page at a time. */
  private async *listKeys(prefix: string): AsyncGenerator<string[]> {
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: this.prefix + prefix,
          ContinuationToken: token,
        }),
      );
      yield (page.Contents ?? []).flatMap((o) => (o.Key === undefined ? [] : [o.Key]));
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  async deletePrefix(prefix: string): Promise<number> {
    assertValidPrefix(prefix);
    let deleted = 0;
    for await (const keys of this.listKeys(prefix)) deleted += await this.deleteFullKeys(keys);
    return deleted;
  }

  async list(prefix: string): Promise<string[]> {
    assertValidPrefix(prefix);
    const keys: string[] = [];
    for await (const page of this.listKeys(prefix)) {
      for (const key of page) if (key.startsWith(this.prefix)) keys.push(key.slice(this.prefix.length));
    }
    return keys;
  }

  async deleteKeys(keys: readonly string[]): Promise<number> {
    return await this.deleteFullKeys(keys.map((key) => this.fullKey(key)));
  }

  /** Deletes bucket keys (this storage's prefix included), DELETE_CONCURRENCY at a time. */
  private async deleteFullKeys(keys: readonly string[]): Promise<number> {
    // Single deletes: DeleteObjects needs a Content-MD5 some S3-compatible servers reject.
    for (let i = 0; i < keys.length; i += DELETE_CONCURRENCY) {
      const batch = keys.slice(i, i + DELETE_CONCURRENCY);
      await Promise.all(
        batch.map((Key) => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key }))),
      );
    }
    return keys.length;
  }

  async presignedGetUrl(key: string, ttlSeconds: number): Promise<string | null> {
    const expiresIn = Math.max(1, Math.min(Math.floor(ttlSeconds), this.maxTtl));
    return await getSignedUrl(
      this.client,
      new GetObjectCommand({ Bucket: this.bucket, Key: this.fullKey(key) }),
      {
        expiresIn,
      },
    );
  }

  async check(): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
  }

  /** Releases the SDK's sockets. */
  close(): void {
    this.client.destroy();
  }
}
