/**
 * Builds the object storage named by `--storage` / ARRAKIS_STORAGE:
 *   file:./data/objects                     a local folder (relative to the working directory)
 *   file:///var/lib/arrakis/objects         the same, as a file URL
 *   s3://bucket/prefix?endpoint=URL&region=R&force_path_style=1
 * S3 credentials come from the standard AWS variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, ...).
 */
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { ObjectStorage } from './contract.js';
import { FileStorage } from './file-storage.js';
import { RecentOutputs } from './recent-outputs.js';
import { assertValidPrefix } from './object-key.js';
import { S3Storage } from './s3-storage.js';

const ACCEPTED = 'accepted: file:PATH or s3://BUCKET/PREFIX?endpoint=URL&region=REGION&force_path_style=1';

export class StorageConfigError extends Error {
  constructor(spec: string, why: string) {
    super(`--storage (ARRAKIS_STORAGE) "${spec}": ${why}; ${ACCEPTED}`);
    this.name = 'StorageConfigError';
  }
}

const S3QuerySchema = z
  .object({
    endpoint: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
    region: z.string().min(1).optional(),
    force_path_style: z.enum(['1', '0', 'true', 'false']).optional(),
  })
  .strict();

/** A folder, with the recently stored small outputs served from memory (recent-outputs.ts). */
function openFile(spec: string): ObjectStorage {
  const path = spec.startsWith('file://') ? fileURLToPath(spec) : spec.slice('file:'.length);
  if (path === '') throw new StorageConfigError(spec, 'the folder path is empty');
  return new RecentOutputs(new FileStorage(path));
}

function openS3(spec: string, presignTtlSeconds: number | undefined): S3Storage {
  let url: URL;
  try {
    url = new URL(spec);
  } catch {
    throw new StorageConfigError(spec, 'not a valid URL');
  }
  const bucket = url.hostname;
  if (bucket === '') throw new StorageConfigError(spec, 'the bucket name is missing');
  if (url.username !== '' || url.password !== '') {
    throw new StorageConfigError(
      spec,
      'put credentials in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, not the URL',
    );
  }
  const query = S3QuerySchema.safeParse(Object.fromEntries(url.searchParams));
  if (!query.success) {
    const issues = query.error.issues.map((i) => `${i.path.join('.') || 'query'}: ${i.message}`).join(', ');
    throw new StorageConfigError(spec, issues);
  }
  const q = query.data;
  const prefix = decodeURIComponent(url.pathname.replace(/^\/+/, ''));
  if (prefix !== '') {
    try {
      assertValidPrefix(prefix);
    } catch (err) {
      throw new StorageConfigError(spec, `bad prefix (${err instanceof Error ? err.message : String(err)})`);
    }
  }
  return new S3Storage({
    bucket,
    prefix,
    ...(q.endpoint !== undefined ? { endpoint: q.endpoint } : {}),
    region: q.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
    forcePathStyle: q.force_path_style === '1' || q.force_path_style === 'true',
    ...(presignTtlSeconds !== undefined ? { presignTtlSeconds } : {}),
  });
}

/** Opens the storage backend `spec` names; throws StorageConfigError naming the setting when malformed. */
export function openStorage(spec: string, opts: { presignTtlSeconds?: number } = {}): ObjectStorage {
  if (spec.startsWith('file:')) return openFile(spec);
  if (spec.startsWith('s3://')) return openS3(spec, opts.presignTtlSeconds);
  throw new StorageConfigError(spec, 'unknown scheme');
}
