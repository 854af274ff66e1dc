/**
 * Recognises the image formats Arrakis accepts from their magic bytes. A server's Content-Type and a
 * client's file name are never trusted: they are claims, these bytes are the file.
 */

export type ImageFormat = 'png' | 'jpeg' | 'webp' | 'gif';

export interface ImageType {
  format: ImageFormat;
  contentType: string;
  ext: string;
}

/** Bytes needed to tell every supported format apart (`RIFF....WEBP` is the longest signature). */
export const SNIFF_BYTES = 12;

const PNG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const JPEG = [0xff, 0xd8, 0xff];

function startsWith(buf: Uint8Array, sig: readonly number[], at = 0): boolean {
  if (buf.length < at + sig.length) return false;
  return sig.every((b, i) => buf[at + i] === b);
}

function ascii(text: string): number[] {
  return [...text].map((c) => c.charCodeAt(0));
}

/** The image type of `head` (the first bytes of a file), or null when it is not a supported image. */
export function sniffImage(head: Uint8Array): ImageType | null {
  if (startsWith(head, PNG)) return { format: 'png', contentType: 'image/png', ext: 'png' };
  if (startsWith(head, JPEG)) return { format: 'jpeg', contentType: 'image/jpeg', ext: 'jpg' };
  if (startsWith(head, ascii('GIF87a')) || startsWith(head, ascii('GIF89a'))) {
    return { format: 'gif', contentType: 'image/gif', ext: 'gif' };
  }
  if (startsWith(head, ascii('RIFF')) && startsWith(head, ascii('WEBP'), 8)) {
    return { format: 'webp', contentType: 'image/webp', ext: 'webp' };
  }
  return null;
}
