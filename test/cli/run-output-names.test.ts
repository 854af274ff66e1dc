/** `arrakis run` saves outputs under names the server gave: nothing it sends may leave --out. */
import { describe, expect, it } from 'vitest';
import { outputFileName } from '../../src/cli/run.js';

describe('output file names', () => {
  it('keeps a plain name', () => {
    expect(outputFileName('out_00001_.png', 0)).toBe('out_00001_.png');
  });

  it('never yields a path, a parent, a hidden file or a name too long to write', () => {
    const hostile = [
      '../../escape.png',
      '/etc/passwd',
      '..',
      '.',
      '',
      '.bashrc',
      'a/../../b.png',
      '..\\..\\win.png',
      'nul\u0000byte.png',
      'sub/dir/',
      `${'x'.repeat(400)}.png`,
    ];
    for (const [i, name] of hostile.entries()) {
      const saved = outputFileName(name, i);
      expect(saved, name).toMatch(/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/);
      expect(saved, name).not.toContain('..');
    }
    expect(outputFileName('../../escape.png', 3)).toBe('escape.png');
    expect(outputFileName('..', 4)).toBe('output-4');
    expect(outputFileName(`${'x'.repeat(400)}.png`, 5)).toBe(`${'x'.repeat(116)}.png`);
  });
});
