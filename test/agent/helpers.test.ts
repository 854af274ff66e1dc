import { describe, expect, it } from 'vitest';
import { detectContentType } from '../../src/media/output-content-type.js';
import { isOutputKeyOf, legacyOutputKey, outputKey } from '../../src/workers/output-key.js';
import { ProgressThrottle } from '../../src/agent/progress-throttle.js';
import type { JobProgress } from '../../src/jobs/types.js';

describe('output content types', () => {
  it('trusts magic bytes over the extension', () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    expect(detectContentType(png, 'x.jpg')).toBe('image/png');
    expect(detectContentType(Buffer.from([0xff, 0xd8, 0xff, 0xe0]), 'x.png')).toBe('image/jpeg');
    expect(detectContentType(Buffer.from('RIFF\0\0\0\0WEBPVP8 '), 'x')).toBe('image/webp');
    expect(detectContentType(Buffer.from('\0\0\0\x18ftypisom'), 'x')).toBe('video/mp4');
    expect(detectContentType(Buffer.from('GIF89a'), 'x.bin')).toBe('image/gif');
  });

  it('falls back to the extension, then to octet-stream', () => {
    expect(detectContentType(Buffer.from('hello'), 'notes.txt')).toBe('text/plain');
    expect(detectContentType(Buffer.from('hello'), 'clip.webm')).toBe('video/webm');
    expect(detectContentType(Buffer.from('hello'), 'blob')).toBe('application/octet-stream');
  });
});

describe('output keys', () => {
  it('keeps every output under jobs/<id>/outputs/ as one safe segment, by attempt and arrival', () => {
    expect(outputKey('job_1', 1, 0, 'out_00001_.png')).toBe('jobs/job_1/outputs/1.0-out_00001_.png');
    expect(outputKey('job_1', 1, 2, '../../etc/passwd')).toBe('jobs/job_1/outputs/1.2-passwd');
    expect(outputKey('job_1', 2, 3, '..hidden')).toBe('jobs/job_1/outputs/2.3-hidden');
    expect(outputKey('job_1', 1, 4, 'a b/c?d.png')).toBe('jobs/job_1/outputs/1.4-c_d.png');
    expect(outputKey('job_1', 1, 5, '../')).toBe('jobs/job_1/outputs/1.5-output');
    expect(legacyOutputKey('job_1', 2, '../../etc/passwd')).toBe('jobs/job_1/outputs/2-passwd');
  });

  it('recognises exactly the keys the server builds for a job and a filename', () => {
    expect(isOutputKeyOf('job_1', 'jobs/job_1/outputs/1.0-a.png', 'a.png')).toBe(true);
    expect(isOutputKeyOf('job_1', 'jobs/job_1/outputs/3-passwd', '../../etc/passwd')).toBe(true);
    for (const key of [
      'jobs/job_2/outputs/1.0-a.png', // another job
      'jobs/job_1/outputs/1.0-b.png', // another filename
      'jobs/job_1/outputs/1.0-x-a.png', // a tag that is not numeric
      'jobs/job_1/outputs/01.0-a.png', // not canonical
      'jobs/job_1/outputs/1.0.0-a.png',
      'jobs/job_1/outputs/-a.png',
      'jobs/job_1/outputs/1.0/../a.png',
      'jobs/job_1/inputs/1.0-a.png',
      'jobs/job_1/outputs/a.png',
    ]) {
      expect(isOutputKeyOf('job_1', key, 'a.png'), key).toBe(false);
    }
  });
});

describe('progress throttle', () => {
  it('sends at most one update per interval, in order, and always the last one', async () => {
    const sent: JobProgress[] = [];
    const throttle = new ProgressThrottle(async (p) => {
      sent.push(p);
    }, 50);
    for (let value = 1; value <= 10; value++) throttle.push({ value, max: 20, node: '3' });
    await new Promise((r) => setTimeout(r, 80));
    for (let value = 11; value <= 20; value++) throttle.push({ value, max: 20, node: '3' });
    await throttle.flush();
    expect(sent.map((p) => p.value)).toEqual([10, 20]);
  });

  it('holds the first update one interval from the start: a run shorter than that sends only its last', async () => {
    const sent: number[] = [];
    const throttle = new ProgressThrottle(async (p) => {
      sent.push(p.value);
    }, 10_000);
    throttle.push({ value: 1, max: 3, node: null });
    throttle.push({ value: 2, max: 3, node: null });
    await new Promise((r) => setTimeout(r, 20));
    expect(sent).toEqual([]);
    throttle.push({ value: 3, max: 3, node: null });
    await throttle.flush();
    expect(sent).toEqual([3]);
  });

  it('sends a trailing update once the interval passes, without a flush', async () => {
    const sent: number[] = [];
    let resolveSecond: () => void = () => {};
    const second = new Promise<void>((resolve) => {
      resolveSecond = resolve;
    });
    const throttle = new ProgressThrottle(async (p) => {
      sent.push(p.value);
      if (sent.length === 2) resolveSecond();
    }, 30);
    throttle.push({ value: 1, max: 3, node: null });
    throttle.push({ value: 2, max: 3, node: null });
    await new Promise((r) => setTimeout(r, 45));
    throttle.push({ value: 3, max: 3, node: null });
    await second;
    expect(sent).toEqual([2, 3]);
    throttle.stop();
  });
});
