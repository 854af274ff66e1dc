/** `s3://bucket/key?endpoint=URL&region=R&…` model sources, read through the storage layer (AWS_* credentials). */
import type { Readable } from 'node:stream';
import { openStorage } from '../media/storage/open-storage.js';
import { ModelSourceError, redactUrl } from './source-errors.js';

/** The object's bytes as a stream; errors name the redacted URL only. */
export async function openS3Source(url: string): Promise<Readable> {
  const u = new URL(url);
  const key = decodeURIComponent(u.pathname.replace(/^\/+/, ''));
  const storage = openStorage(`s3://${u.host}${u.search}`);
  const found = await storage.get(key).catch((err: unknown) => {
    throw new ModelSourceError(`${redactUrl(url)}: ${err instanceof Error ? err.name : 'read failed'}`);
  });
  if (found === null) throw new ModelSourceError(`${redactUrl(url)}: no such object`);
  return found.body;
}
