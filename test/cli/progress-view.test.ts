/** `arrakis run`'s progress display: a bar redrawn in place on a terminal, plain throttled lines elsewhere. */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createProgressView } from '../../src/cli/progress-view.js';

function stream(isTTY: boolean): { out: PassThrough & { isTTY?: boolean }; text: () => string } {
  const out: PassThrough & { isTTY?: boolean } = new PassThrough();
  out.isTTY = isTTY;
  const chunks: string[] = [];
  out.on('data', (c: Buffer) => chunks.push(c.toString()));
  return { out, text: () => chunks.join('') };
}

describe('progress view', () => {
  it('redraws one bar line on a terminal and ends it with a newline', () => {
    const { out, text } = stream(true);
    const view = createProgressView(out);
    view.status('running');
    view.progress(5, 10, '2');
    view.progress(10, 10, '2');
    view.close();
    const frames = text()
      .split('\r\x1b[K')
      .filter((f) => f !== '');
    expect(frames).toHaveLength(3);
    expect(frames[1]).toMatch(/^█{15}░{15} {2}50% {2}node 2$/);
    expect(text().endsWith('\n')).toBe(true);
    expect(text().split('\n')).toHaveLength(2);
  });

  it('prints status lines and progress at each tenth when not a terminal', () => {
    const { out, text } = stream(false);
    const view = createProgressView(out);
    view.status('running');
    for (let v = 0; v <= 100; v++) view.progress(v, 100, null);
    view.close();
    const lines = text().trim().split('\n');
    expect(lines[0]).toBe('status running');
    expect(lines.slice(1)).toEqual(Array.from({ length: 11 }, (_, i) => `progress ${i * 10}%`));
    expect(text()).not.toContain('\r');
  });
});
