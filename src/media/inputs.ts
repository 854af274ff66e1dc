/**
 * Input images: checked before they are stored (size, magic bytes, a full decode with sharp, a pixel
 * cap) so a corrupt or hostile file fails at submission or fetch time with `input_invalid`, not deep
 * inside ComfyUI. Stored under `jobs/<job id>/inputs/<name>.<ext>`.
 */
import sharp from 'sharp';
import { ApiError } from '../errors.js';
import { sniffImage, type ImageType } from './image-sniff.js';
import type { ObjectStorage } from './storage/contract.js';
import { assertValidKey } from './storage/object-key.js';
import { safeFilename } from '../util/safe-filename.js';

export const DEFAULT_MAX_INPUT_BYTES = 25 * 1024 * 1024;
/** 64 megapixels: far above any diffusion input, far below a decompression bomb. */
export const DEFAULT_MAX_INPUT_PIXELS = 64 * 1024 * 1024;

export interface ImageInfo extends ImageType {
  width: number;
  height: number;
}

export type ImageCheck = { ok: true; info: ImageInfo } | { ok: false; reason: string };

export interface StoredInput {
  objectKey: string;
  contentType: string;
  size: number;
}

/** Whether `bytes` is a complete, decodable PNG/JPEG/WebP/GIF within `maxPixels`. */
export async function inspectImage(bytes: Buffer, maxPixels = DEFAULT_MAX_INPUT_PIXELS): Promise<ImageCheck> {
  const type = sniffImage(bytes);
  if (type === null) return { ok: false, reason: 'not a PNG, JPEG, WebP or GIF image' };
  try {
    const meta = await sharp(bytes).metadata();
    const width = meta.width ?? 0;
    const height = meta.height ?? 0;
    if (meta.format !== type.format || width <= 0 || height <= 0) {
      return { ok: false, reason: `not a valid ${type.format} image` };
    }
    if (width * height > maxPixels) {
      return { ok: false, reason: `${width}×${height} is more than ${maxPixels} pixels` };
    }
    // The header can be fine while the data is truncated or corrupt: decode it all once.
    await sharp(bytes, { failOn: 'warning', limitInputPixels: maxPixels, sequentialRead: true }).stats();
    return { ok: true, info: { ...type, width, height } };
  } catch (err) {
    const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
    return { ok: false, reason: `the ${type.format} image cannot be decoded (${why})` };
  }
}

/** The object key of input `name` of a job; the name is reduced by safeFilename (util/safe-filename.ts). */
export function inputObjectKey(jobId: string, name: string, ext: string): string {
  const key = `jobs/${jobId}/inputs/${safeFilename(name, 'input')}.${ext}`;
  assertValidKey(key);
  return key;
}

/** Writes an already inspected input image to storage. */
export async function storeInput(
  storage: ObjectStorage,
  jobId: string,
  name: string,
  bytes: Buffer,
  info: ImageType,
): Promise<StoredInput> {
  const objectKey = inputObjectKey(jobId, name, info.ext);
  const stored = await storage.put(objectKey, bytes, info.contentType);
  return { objectKey, contentType: stored.contentType, size: stored.size };
}

/**
 * Checks an uploaded input (base64 or multipart) for the API.
 * @throws ApiError `payload_too_large` over `maxBytes`, `input_invalid` when it is not a usable image.
 */
export async function validateInputImage(
  name: string,
  bytes: Buffer,
  limits: { maxBytes?: number; maxPixels?: number } = {},
): Promise<ImageInfo> {
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_INPUT_BYTES;
  if (bytes.length > maxBytes) {
    throw new ApiError('payload_too_large', `input "${name}" is larger than ${maxBytes} bytes`, {
      input: name,
    });
  }
  const check = await inspectImage(bytes, limits.maxPixels);
  if (!check.ok) throw new ApiError('input_invalid', `input "${name}": ${check.reason}`, { input: name });
  return check.info;
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/**
 * Decodes a base64 input (optionally a `data:...;base64,` URL) and checks it as an image.
 * The size is checked before decoding, so an oversized string costs no second copy.
 * @throws ApiError `payload_too_large` or `input_invalid`.
 */
export async function decodeBase64Input(
  name: string,
  encoded: string,
  limits: { maxBytes?: number; maxPixels?: number } = {},
): Promise<{ bytes: Buffer; info: ImageInfo }> {
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_INPUT_BYTES;
  const payload = encoded.replace(/^data:[^,]*;base64,/, '').replace(/\s+/g, '');
  if (Math.floor((payload.length * 3) / 4) - 2 > maxBytes) {
    throw new ApiError('payload_too_large', `input "${name}" is larger than ${maxBytes} bytes`, {
      input: name,
    });
  }
  if (payload.length === 0 || !BASE64.test(payload)) {
    throw new ApiError('input_invalid', `input "${name}" is not valid base64`, { input: name });
  }
  const bytes = Buffer.from(payload, 'base64');
  return { bytes, info: await validateInputImage(name, bytes, { ...limits, maxBytes }) };
}
