/**
 * Reads a response body into memory under a byte limit that is enforced while streaming: the stream is
 * destroyed (closing the connection) on the chunk that crosses the limit, so a 200 MB or endless body
 * costs at most `maxBytes` plus one chunk of memory.
 */
import type { Readable } from 'node:stream';
import { FetchError } from './fetch-error.js';
import { SNIFF_BYTES, sniffImage, type ImageType } from './image-sniff.js';

export interface BodyLimits {
  maxBytes: number;
  /** Refuse the body (`unsupported_type`) as soon as its first bytes are not a supported image. */
  expectImage: boolean;
  /** The Content-Length the server announced, if any; a larger one is refused before reading. */
  declaredLength: number | null;
}

export interface ReadBody {
  bytes: Buffer;
  image: ImageType | null;
}

function tooLarge(maxBytes: number): FetchError {
  return new FetchError('too_large', `the response is larger than the limit of ${maxBytes} bytes`);
}

function notAnImage(): FetchError {
  return new FetchError('unsupported_type', 'the response is not a PNG, JPEG, WebP or GIF image');
}

/** Reads `body` fully within `limits`; throws FetchError `too_large` or `unsupported_type`. */
export async function readLimited(body: Readable, limits: BodyLimits): Promise<ReadBody> {
  if (limits.declaredLength !== null && limits.declaredLength > limits.maxBytes) {
    body.destroy();
    throw tooLarge(limits.maxBytes);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  let image: ImageType | null = null;
  // Leaving the loop by throwing destroys the stream (and with it the socket).
  for await (const chunk of body) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    total += buf.length;
    if (total > limits.maxBytes) throw tooLarge(limits.maxBytes);
    chunks.push(buf);
    if (limits.expectImage && image === null && total >= SNIFF_BYTES) {
      image = sniffImage(Buffer.concat(chunks).subarray(0, SNIFF_BYTES));
      if (image === null) throw notAnImage();
    }
  }
  const bytes = Buffer.concat(chunks, total);
  if (limits.expectImage && image === null) {
    image = sniffImage(bytes);
    if (image === null) throw notAnImage();
  }
  return { bytes, image };
}
