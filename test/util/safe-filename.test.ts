/** One filename rule for uploads, input keys, output keys and `arrakis run` downloads. */
import { describe, expect, it } from 'vitest';
import { MAX_FILENAME, safeFilename } from '../../src/util/safe-filename.js';

describe('safeFilename', () => {
  it('keeps a plain name as it is', () => {
    expect(safeFilename('out_00001_.png', 'x')).toBe('out_00001_.png');
    expect(safeFilename('A-b.c_d', 'x')).toBe('A-b.c_d');
  });

  it('keeps only the last path component, for / and \\ alike', () => {
    expect(safeFilename('../../etc/passwd', 'x')).toBe('passwd');
    expect(safeFilename('..\\..\\win.png', 'x')).toBe('win.png');
    expect(safeFilename('a b/c?d.png', 'x')).toBe('c_d.png');
  });

  it('replaces every other character with _', () => {
    expect(safeFilename('my photo (1).jpg', 'x')).toBe('my_photo__1_.jpg');
    expect(safeFilename('nul\u0000byte.png', 'x')).toBe('nul_byte.png');
    expect(safeFilename('ünï.png', 'x')).toBe('_n_.png');
  });

  it('never starts with a dot: no hidden files, no . or ..', () => {
    expect(safeFilename('..hidden', 'x')).toBe('hidden');
    expect(safeFilename('.bashrc', 'x')).toBe('bashrc');
  });

  it('falls back when nothing usable is left', () => {
    for (const name of ['', '..', '.', '../', 'sub/dir/', null, undefined]) {
      expect(safeFilename(name, 'fallback.bin'), String(name)).toBe('fallback.bin');
    }
  });

  it('bounds the length, keeping the extension, and does not expose a dot by cutting', () => {
    const long = safeFilename(`${'x'.repeat(400)}.png`, 'x');
    expect(long).toHaveLength(MAX_FILENAME);
    expect(long.endsWith('xx.png')).toBe(true);
    // Cutting 'a…a.' + 119 chars leaves a leading dot; it must go too.
    const cut = safeFilename(`${'a'.repeat(10)}.${'b'.repeat(MAX_FILENAME - 1)}`, 'x');
    expect(cut).toBe('b'.repeat(MAX_FILENAME - 1));
  });
});
