/**
 * The single-file agent's stand-in for s3-source.ts (scripts/build-agent.mjs swaps it in): the bundle carries
 * no AWS SDK, so registered model files for it must use https:// (a presigned URL works) or http://.
 */
import type { Readable } from 'node:stream';
import { ModelSourceError, redactUrl } from './source-errors.js';

export function openS3Source(url: string): Promise<Readable> {
  return Promise.reject(
    new ModelSourceError(
      `${redactUrl(url)}: the single-file agent cannot read s3:// sources; register an https:// URL (a presigned URL works) or run the full install`,
    ),
  );
}
