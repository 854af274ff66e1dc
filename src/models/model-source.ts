/**
 * Opens a registered model file's source as a byte stream. Sources are trusted operator configuration (like a
 * JWKS URL), so they are not put through the SSRF guard; they are fetched with timeouts, and their URLs are
 * never logged or echoed with credentials or a query (a presigned URL's query is a credential).
 *   https://… / http://…                          fetched (redirects followed)
 *   s3://bucket/key?endpoint=URL&region=R&…       through the storage layer (AWS_* credentials)
 */
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { ModelSourceError, redactUrl } from './source-errors.js';

export { ModelSourceError, redactUrl };

export interface SourceOptions {
  /** Longest wait for the response headers (default 30 s). */
  headersTimeoutMs?: number;
}

async function openHttp(url: string, signal: AbortSignal, options: SourceOptions): Promise<Readable> {
  const headers = AbortSignal.any([signal, AbortSignal.timeout(options.headersTimeoutMs ?? 30_000)]);
  // fetch refuses URLs with user info: send it as Basic credentials instead.
  const target = new URL(url);
  const auth: Record<string, string> = {};
  if (target.username !== '' || target.password !== '') {
    const pair = `${decodeURIComponent(target.username)}:${decodeURIComponent(target.password)}`;
    auth.authorization = `Basic ${Buffer.from(pair).toString('base64')}`;
    target.username = '';
    target.password = '';
  }
  let res: Response;
  try {
    res = await fetch(target, { signal: headers, redirect: 'follow', headers: auth });
  } catch (err) {
    throw new ModelSourceError(`${redactUrl(url)}: ${err instanceof Error ? err.name : 'fetch failed'}`);
  }
  if (!res.ok || res.body === null) {
    await res.body?.cancel().catch(() => {});
    throw new ModelSourceError(`${redactUrl(url)} answered ${res.status}`);
  }
  return Readable.fromWeb(res.body as WebReadableStream<Uint8Array>, { signal });
}

/** The bytes at `url` as a stream (aborted with `signal`). */
export async function openModelSource(
  url: string,
  signal: AbortSignal,
  options: SourceOptions = {},
): Promise<Readable> {
  if (url.startsWith('https://') || url.startsWith('http://')) return await openHttp(url, signal, options);
  if (url.startsWith('s3://')) {
    // Loaded on demand: the single-file agent replaces this module (it carries no AWS SDK).
    const { openS3Source } = await import('./s3-source.js');
    return await openS3Source(url);
  }
  throw new ModelSourceError(`${redactUrl(url)}: only s3://, https:// and http:// sources are supported`);
}
