/**
 * The parts of `arrakis bench` that need no server: percentiles and overlap, the report's tables and
 * baseline comparison, the timeline chart, the progress lines, the flags, and fresh seeds per job.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadBaseline } from '../../src/bench/baseline.js';
import { benchOptions, type BenchFlags } from '../../src/bench/options.js';
import { createProgress } from '../../src/bench/progress.js';
import { reportMarkdown } from '../../src/bench/report-md.js';
import { peakOverlap, percentile } from '../../src/bench/stats.js';
import { timelineSvg } from '../../src/bench/timeline-svg.js';
import type { BenchReport, CheckResult, JobRecord } from '../../src/bench/types.js';
import { reseed } from '../../src/bench/workflows.js';

const flags: BenchFlags = {
  out: 'o',
  param: [],
  warmJobs: '5',
  burst: '8',
  quotaLimit: '5',
  jobTimeout: '300',
  coldWait: '600',
  warmMaxWait: '10',
};

function job(over: Partial<JobRecord>): JobRecord {
  return {
    check: 'warm',
    id: 'job_000001',
    user: 'u',
    status: 'completed',
    created_at: '2026-01-01T00:00:00.000Z',
    started_at: '2026-01-01T00:00:01.000Z',
    finished_at: '2026-01-01T00:00:03.000Z',
    queue_wait_s: 1,
    run_time_s: 2,
    total_time_s: 3,
    cancelled_by_bench: false,
    requeues: 0,
    ...over,
  };
}

function report(checks: CheckResult[]): BenchReport {
  return { server: 'http://x', started_at: 'a', finished_at: 'b', verdict: 'pass', checks, jobs: [] };
}

const cold: CheckResult = {
  name: 'cold',
  status: 'pass',
  summary: 'cold start',
  figures: {
    queue_wait: { label: 'queue wait', value: 44.9, unit: 's' },
    run: { label: 'run', value: 39, unit: 's' },
    total: { label: 'total', value: 84, unit: 's' },
  },
  details: ['pool gpu: 0 → 1 worker(s)'],
  duration_s: 85,
};

describe('bench statistics', () => {
  it('takes nearest-rank percentiles and counts jobs running at once', () => {
    expect(percentile([5, 1, 4, 2, 3], 50)).toBe(3);
    expect(percentile([5, 1, 4, 2, 3], 95)).toBe(5);
    expect(percentile([], 50)).toBeNull();
    expect(
      peakOverlap([
        [0, 10],
        [5, 15],
        [9, 12],
        [15, 20],
      ]),
    ).toBe(3);
    expect(
      peakOverlap([
        [0, 5],
        [5, 10],
      ]),
    ).toBe(1);
  });
});

describe('report.md', () => {
  it('has a verdict table, the timing table and figures beside the baseline with the change', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-baseline-'));
    const path = join(dir, 'report.json');
    writeFileSync(
      path,
      JSON.stringify({
        checks: [{ ...cold, figures: { ...cold.figures, total: { value: 100, unit: 's' } } }],
      }),
    );
    const md = reportMarkdown(report([cold]), await loadBaseline(path), 'timeline.svg');
    expect(md).toContain('| cold | ✅ pass | ✅ pass | cold start |');
    expect(md).toContain(
      '| cold job | 44.90 s (was 44.90 s) | 39.00 s (was 39.00 s) | 84.00 s (was 100.00 s) |',
    );
    expect(md).toContain('| cold | total | 84.00 s | 100.00 s | -16% |');
    expect(md).toContain('- pool gpu: 0 → 1 worker(s)');
    expect(md).toContain('](timeline.svg)');
  });

  it('refuses a baseline that is not a report', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-baseline-'));
    writeFileSync(join(dir, 'x.json'), '{"hello": 1}');
    await expect(loadBaseline(join(dir, 'x.json'))).rejects.toThrow(/not an arrakis bench report/);
  });
});

describe('timeline.svg', () => {
  it('draws a queue bar and a run bar per job and marks a cancel', () => {
    const svg = timelineSvg([
      job({}),
      job({
        id: 'job_000002',
        check: 'cancel',
        status: 'cancelled',
        finished_at: '2026-01-01T00:00:02.000Z',
      }),
      job({ id: 'job_<b>', started_at: null, status: 'cancelled', finished_at: '2026-01-01T00:00:00.500Z' }),
    ]);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/✕<\/text>/g)).toHaveLength(2);
    expect(svg).not.toContain('<b>');
    expect(svg.match(/fill="#2f855a"\/>/g)?.length).toBeGreaterThanOrEqual(1);
  });
});

describe('progress lines', () => {
  function sink(isTTY: boolean) {
    const written: string[] = [];
    const out = {
      isTTY,
      columns: 80,
      write: (s: string) => written.push(s) > 0,
    } as unknown as NodeJS.WriteStream;
    return { out, text: () => written.join('') };
  }

  it('redraws one line in place on a terminal and leaves the verdict', () => {
    const { out, text } = sink(true);
    const p = createProgress(out);
    p.start('warm');
    p.update('job 2/5');
    p.finish({ ...cold, name: 'warm', summary: 'ok' });
    expect(text()).toContain('\r\x1b[2K⠿ warm  job 2/5');
    expect(text()).toMatch(/\r\x1b\[2K✓ warm +pass +ok\n$/);
  });

  it('prints a line per start and verdict otherwise', () => {
    const { out, text } = sink(false);
    const p = createProgress(out);
    p.start('cold');
    p.update('hidden');
    p.finish({ ...cold, status: 'not_run', summary: 'min 1' });
    expect(text()).toBe('… cold started\n– cold        not run min 1\n');
  });
});

describe('bench flags', () => {
  it('rejects an unknown check, a limit not below the burst, and --param without --template', () => {
    expect(() => benchOptions('http://x', 'k', { ...flags, checks: 'warm,nope' })).toThrow(
      /unknown check "nope"/,
    );
    expect(() => benchOptions('http://x', 'k', { ...flags, quotaLimit: '8' })).toThrow(/must exceed/);
    expect(() => benchOptions('http://x', 'k', { ...flags, param: ['a=1'] })).toThrow(/--template/);
    expect([...benchOptions('http://x', 'k', { ...flags, checks: 'cold, cost' }).checks]).toEqual([
      'cold',
      'cost',
    ]);
  });

  it('gives every submission a new seed and leaves other inputs alone', () => {
    const workflow = { '3': { class_type: 'KSampler', inputs: { seed: 1, steps: 20, model: ['4', 0] } } };
    const a = reseed(workflow) as any;
    const b = reseed(workflow) as any;
    expect(a['3'].inputs.steps).toBe(20);
    expect(a['3'].inputs.model).toEqual(['4', 0]);
    expect(a['3'].inputs.seed).not.toBe(b['3'].inputs.seed);
    expect(workflow['3'].inputs.seed).toBe(1);
  });
});
