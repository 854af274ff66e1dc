import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src/errors.js';
import { sniffImage } from '../../src/media/image-sniff.js';
import {
  decodeBase64Input,
  inputObjectKey,
  inspectImage,
  validateInputImage,
} from '../../src/media/inputs.js';
import { makeJpeg, makePng } from './fixtures.js';

async function apiErrorCode(work: Promise<unknown>): Promise<string> {
  const err = await work.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(err instanceof ApiError)) throw new Error(`expected an ApiError, got ${String(err)}`);
  return err.code;
}

describe('sniffImage', () => {
  it.each([
    ['png', [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0]],
    ['jpeg', [0xff, 0xd8, 0xff, 0xe0]],
    ['gif', [...Buffer.from('GIF89a')]],
    ['gif', [...Buffer.from('GIF87a')]],
    ['webp', [...Buffer.from('RIFF'), 1, 2, 3, 4, ...Buffer.from('WEBPVP8 ')]],
  ])('recognises %s', (format, bytes) => {
    expect(sniffImage(Uint8Array.from(bytes))?.format).toBe(format);
  });

  it.each([['<html>'], ['RIFF1234WAVE'], ['GIF90a'], [''], ['\x89PNG']])('refuses %j', (text) => {
    expect(sniffImage(Buffer.from(text, 'latin1'))).toBeNull();
  });
});

describe('inspectImage', () => {
  it('accepts a real image and reports its size', async () => {
    expect(await inspectImage(await makeJpeg(5, 7))).toEqual({
      ok: true,
      info: { format: 'jpeg', contentType: 'image/jpeg', ext: 'jpg', width: 5, height: 7 },
    });
  });

  it('refuses a truncated image whose header is intact', async () => {
    const png = await makePng(64, 64);
    const check = await inspectImage(png.subarray(0, Math.floor(png.length / 2)));
    expect(check.ok).toBe(false);
  });

  it('refuses an image over the pixel cap', async () => {
    const check = await inspectImage(await makePng(100, 100), 5_000);
    expect(check).toEqual({ ok: false, reason: '100×100 is more than 5000 pixels' });
  });
});

describe('decodeBase64Input', () => {
  it('decodes plain base64 and data URLs', async () => {
    const png = await makePng();
    const plain = await decodeBase64Input('img', png.toString('base64'));
    expect(plain.bytes.equals(png)).toBe(true);
    expect(plain.info.format).toBe('png');
    const data = await decodeBase64Input('img', `data:image/png;base64,${png.toString('base64')}`);
    expect(data.bytes.equals(png)).toBe(true);
  });

  it('refuses what is not base64, not an image, or corrupt, with input_invalid', async () => {
    expect(await apiErrorCode(decodeBase64Input('img', 'not base64!'))).toBe('input_invalid');
    expect(await apiErrorCode(decodeBase64Input('img', Buffer.from('hello world').toString('base64')))).toBe(
      'input_invalid',
    );
    const png = await makePng(32, 32);
    const broken = Buffer.from(png);
    broken.fill(0x42, 40, broken.length - 20);
    expect(await apiErrorCode(decodeBase64Input('img', broken.toString('base64')))).toBe('input_invalid');
  });

  it('refuses an oversized payload before decoding it', async () => {
    const big = 'A'.repeat(4 * 1024);
    expect(await apiErrorCode(decodeBase64Input('img', big, { maxBytes: 1024 }))).toBe('payload_too_large');
    expect(await apiErrorCode(validateInputImage('img', Buffer.alloc(2048), { maxBytes: 1024 }))).toBe(
      'payload_too_large',
    );
  });
});

describe('inputObjectKey', () => {
  it('keeps inputs under their job and neutralises odd names', () => {
    expect(inputObjectKey('job_1', 'face', 'png')).toBe('jobs/job_1/inputs/face.png');
    expect(inputObjectKey('job_1', '../../etc/passwd', 'png')).toBe('jobs/job_1/inputs/passwd.png');
    expect(inputObjectKey('job_1', 'a b.c', 'jpg')).toBe('jobs/job_1/inputs/a_b.c.jpg');
  });
});
