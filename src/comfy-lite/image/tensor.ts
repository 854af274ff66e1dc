/**
 * ComfyUI's IMAGE and MASK values: batches of float32 frames in [0, 1] (IMAGE frames are RGB, row-major, like a
 * torch tensor [B, H, W, 3]). Conversions copy ComfyUI's numpy math so saved pixels match byte for byte.
 */
import sharp from 'sharp';
import { PyError } from '../py-format.js';

export interface ImageBatch {
  kind: 'IMAGE';
  width: number;
  height: number;
  frames: Float32Array[];
}

export interface MaskBatch {
  kind: 'MASK';
  width: number;
  height: number;
  frames: Float32Array[];
}

/** Narrows a node input to an IMAGE, failing the way Python would on anything else. */
export function asImage(value: unknown): ImageBatch {
  if (isBatch(value) && value.kind === 'IMAGE') return value;
  throw new PyError('AttributeError', `'${pyTypeName(value)}' object has no attribute 'shape'`);
}

/** True for the IMAGE and MASK values nodes produce (tagged by `kind`). */
export function isBatch(value: unknown): value is ImageBatch | MaskBatch {
  return (
    typeof value === 'object' &&
    value !== null &&
    'kind' in value &&
    (value.kind === 'IMAGE' || value.kind === 'MASK')
  );
}

function pyTypeName(value: unknown): string {
  if (typeof value === 'string') return 'str';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float';
  if (typeof value === 'boolean') return 'bool';
  if (value === null || value === undefined) return 'NoneType';
  return Array.isArray(value) ? 'list' : 'dict';
}

/** An IMAGE batch from frames of the given size. */
export function makeImage(width: number, height: number, frames: Float32Array[]): ImageBatch {
  return { kind: 'IMAGE', width, height, frames };
}

/** `np.clip(255. * image, 0, 255).astype(np.uint8)`: float32 product, clipped, truncated. */
export function frameToBytes(frame: Float32Array): Buffer {
  const out = Buffer.alloc(frame.length);
  for (let i = 0; i < frame.length; i++) {
    const v = Math.fround(255 * (frame[i] ?? 0));
    out[i] = v > 0 ? (v < 255 ? Math.trunc(v) : 255) : 0;
  }
  return out;
}

/** `np.array(img).astype(np.float32) / 255.0` for 8-bit samples. */
export function bytesToFrame(bytes: Uint8Array): Float32Array {
  const out = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = (bytes[i] ?? 0) / 255;
  return out;
}

/** One frame as an 8-bit RGB PNG (zlib level as ComfyUI's `compress_level`). */
export async function framePng(image: ImageBatch, index: number, compressionLevel: number): Promise<Buffer> {
  const frame = image.frames[index];
  if (frame === undefined) throw new PyError('IndexError', 'index out of range');
  return await sharp(frameToBytes(frame), { raw: { width: image.width, height: image.height, channels: 3 } })
    .png({ compressionLevel, adaptiveFiltering: false })
    .toBuffer();
}

/** What `str(tensor)` stands for in error reports (ComfyUI prints the tensor; a shape is enough here). */
export function describeValue(value: unknown): unknown {
  if (isBatch(value)) {
    const v = value;
    const shape =
      v.kind === 'IMAGE' ? [v.frames.length, v.height, v.width, 3] : [v.frames.length, v.height, v.width];
    return `tensor(shape=[${shape.join(', ')}])`;
  }
  if (value === null || typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean')
    return value;
  // Values that know how Python prints them (MODEL, CLIP, VAE).
  if (typeof value === 'object' && 'pyRepr' in value && typeof value.pyRepr === 'string') return value.pyRepr;
  return JSON.stringify(value);
}
