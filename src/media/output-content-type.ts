/** Content types of ComfyUI outputs, which are not only PNGs (gifs, videos, audio, 3d models, text). */
import { contentTypeFromName } from './content-types.js';

function startsWith(bytes: Buffer, signature: number[], offset = 0): boolean {
  return bytes.length >= offset + signature.length && signature.every((b, i) => bytes[offset + i] === b);
}

function ascii(text: string): number[] {
  return [...text].map((c) => c.charCodeAt(0));
}

/** The content type from the file's magic bytes, falling back to its extension, then `application/octet-stream`. */
export function detectContentType(bytes: Buffer, filename: string): string {
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47])) return 'image/png';
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'image/jpeg';
  if (startsWith(bytes, ascii('GIF8'))) return 'image/gif';
  if (startsWith(bytes, ascii('RIFF')) && startsWith(bytes, ascii('WEBP'), 8)) return 'image/webp';
  if (startsWith(bytes, ascii('RIFF')) && startsWith(bytes, ascii('WAVE'), 8)) return 'audio/wav';
  if (startsWith(bytes, [0x1a, 0x45, 0xdf, 0xa3])) return 'video/webm';
  if (startsWith(bytes, ascii('ftyp'), 4))
    return startsWith(bytes, ascii('qt'), 8) ? 'video/quicktime' : 'video/mp4';
  if (startsWith(bytes, ascii('fLaC'))) return 'audio/flac';
  if (startsWith(bytes, ascii('OggS'))) return 'audio/ogg';
  if (startsWith(bytes, ascii('glTF'))) return 'model/gltf-binary';
  return contentTypeFromName(filename) ?? 'application/octet-stream';
}
