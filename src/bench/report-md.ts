/**
 * report.md: the verdict per check, the job timings in the shape of a hand-written validation report
 * (cold / warm / parallel: queue wait, run, total), every figure with its unit beside the baseline's, the
 * details of each check, and the timeline chart.
 */
import type { Baseline } from './baseline.js';
import type { BenchReport, CheckResult, Figure } from './types.js';

const BADGE = { pass: '✅ pass', fail: '❌ fail', not_run: '➖ not run' } as const;

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function show(value: Figure['value'] | undefined, unit: string): string {
  if (value === undefined) return '';
  if (value === null) return '–';
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (typeof value === 'string') return value;
  if (unit === 's') return `${value.toFixed(2)} s`;
  if (unit === 'price') return value.toFixed(6);
  if (unit === 'bytes') return `${value} B`;
  return String(value);
}

function change(now: Figure['value'], before: Figure['value'] | undefined): string {
  if (typeof now !== 'number' || typeof before !== 'number') return '';
  if (before === 0) return now === 0 ? '0%' : '';
  const pct = ((now - before) / Math.abs(before)) * 100;
  return `${pct >= 0 ? '+' : ''}${pct.toFixed(0)}%`;
}

function verdictTable(report: BenchReport, baseline: Baseline | null): string[] {
  if (baseline === null) {
    const lines = ['| check | verdict | what was seen |', '| --- | --- | --- |'];
    for (const c of report.checks) lines.push(`| ${c.name} | ${BADGE[c.status]} | ${cell(c.summary)} |`);
    return lines;
  }
  const lines = ['| check | verdict | baseline | what was seen |', '| --- | --- | --- | --- |'];
  for (const c of report.checks) {
    const before = baseline.statuses.get(c.name);
    const was = before === 'pass' || before === 'fail' || before === 'not_run' ? BADGE[before] : '–';
    lines.push(`| ${c.name} | ${BADGE[c.status]} | ${was} | ${cell(c.summary)} |`);
  }
  return lines;
}

/** Rows of the timing table: the cold job, then p50/p95 of the warm and the parallel jobs. */
function timingTable(report: BenchReport, baseline: Baseline | null): string[] {
  const find = (name: string): CheckResult | undefined =>
    report.checks.find((c) => c.name === name && c.status !== 'not_run');
  const rows: Array<[string, string, string[]]> = [
    ['cold job', 'cold', ['queue_wait', 'run', 'total']],
    ['warm jobs p50', 'warm', ['queue_wait_p50', 'run_p50', 'total_p50']],
    ['warm jobs p95', 'warm', ['queue_wait_p95', 'run_p95', 'total_p95']],
    ['parallel jobs p50', 'concurrency', ['queue_wait_p50', 'run_p50', 'total_p50']],
    ['parallel jobs p95', 'concurrency', ['queue_wait_p95', 'run_p95', 'total_p95']],
  ];
  const lines = ['| job | queue wait | run | total |', '| --- | --- | --- | --- |'];
  for (const [label, check, keys] of rows) {
    const c = find(check);
    if (c === undefined) continue;
    const cells = keys.map((k) => {
      const f = c.figures[k];
      if (f === undefined) return '–';
      const before = baseline?.values.get(`${check}.${k}`);
      return show(f.value, 's') + (typeof before === 'number' ? ` (was ${show(before, 's')})` : '');
    });
    lines.push(`| ${label} | ${cells.join(' | ')} |`);
  }
  return lines.length > 2 ? lines : [];
}

function figureTable(report: BenchReport, baseline: Baseline | null): string[] {
  const head =
    baseline === null ? '| check | figure | value |' : '| check | figure | value | baseline | change |';
  const lines = [head, baseline === null ? '| --- | --- | --- |' : '| --- | --- | --- | --- | --- |'];
  for (const c of report.checks) {
    for (const [key, f] of Object.entries(c.figures)) {
      const row = `| ${c.name} | ${cell(f.label)} | ${show(f.value, f.unit)}`;
      if (baseline === null) lines.push(`${row} |`);
      else {
        const before = baseline.values.get(`${c.name}.${key}`);
        lines.push(`${row} | ${show(before, f.unit)} | ${change(f.value, before)} |`);
      }
    }
  }
  return lines;
}

/** The whole report.md. */
export function reportMarkdown(report: BenchReport, baseline: Baseline | null, chart: string): string {
  const tally = (s: CheckResult['status']): number => report.checks.filter((c) => c.status === s).length;
  const out = [
    '# Arrakis bench report',
    '',
    `Server ${report.server}, ${report.started_at} → ${report.finished_at}.`,
    '',
    `**Verdict: ${report.verdict.toUpperCase()}** — ${tally('pass')} passed, ${tally('fail')} failed, ${tally('not_run')} not run.`,
    '',
    ...verdictTable(report, baseline),
    '',
  ];
  const timings = timingTable(report, baseline);
  if (timings.length > 0) out.push('## Job timings', '', ...timings, '');
  out.push('## Figures', '');
  if (baseline !== null)
    out.push(
      `Baseline: \`${baseline.path}\`${baseline.startedAt === null ? '' : ` (run of ${baseline.startedAt})`}.`,
      '',
    );
  out.push(...figureTable(report, baseline), '');
  const detailed = report.checks.filter((c) => c.details.length > 0);
  if (detailed.length > 0) {
    out.push('## Details', '');
    for (const c of detailed) out.push(`### ${c.name}`, '', ...c.details.map((d) => `- ${d}`), '');
  }
  out.push('## Timeline', '', `![Jobs of this run: queue wait and run, cancels marked ✕](${chart})`, '');
  return out.join('\n');
}
