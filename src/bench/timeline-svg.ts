/**
 * The jobs of a run as an SVG timeline: one row per job, its queue wait (grey) then its run (coloured by
 * how it ended), with a ✕ where a job was cancelled. Times are the server's, relative to the first job.
 */
import type { JobRecord } from './types.js';

const ROW = 16;
const LABEL = 190;
const PLOT = 640;
const TOP = 34;
const COLORS: Record<string, string> = {
  completed: '#2f855a',
  failed: '#c53030',
  cancelled: '#dd6b20',
  running: '#3182ce',
  queued: '#a0aec0',
};

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const ms = (iso: string | null): number | null => (iso === null ? null : Date.parse(iso));

function axis(span: number, height: number): string {
  const step = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600].find((s) => span / s <= 10) ?? 1200;
  const parts: string[] = [];
  for (let t = 0; t <= span + 1e-9; t += step) {
    const x = LABEL + (t / span) * PLOT;
    parts.push(
      `<line x1="${x.toFixed(1)}" y1="${TOP - 4}" x2="${x.toFixed(1)}" y2="${height - 8}" stroke="#e2e8f0"/>`,
      `<text x="${x.toFixed(1)}" y="${TOP - 8}" font-size="10" text-anchor="middle" fill="#4a5568">${t}s</text>`,
    );
  }
  return parts.join('');
}

function row(job: JobRecord, i: number, t0: number, end: number, span: number): string {
  const y = TOP + i * ROW;
  const x = (t: number): number => LABEL + ((t - t0) / 1000 / span) * PLOT;
  const created = ms(job.created_at) ?? t0;
  const started = ms(job.started_at);
  const finished = ms(job.finished_at) ?? end;
  const waitEnd = started ?? finished;
  const color = COLORS[job.status] ?? '#718096';
  const title = escape(
    `${job.check} ${job.id} (${job.user}): ${job.status}, queue ${job.queue_wait_s ?? '–'} s, run ${job.run_time_s ?? '–'} s`,
  );
  const parts = [
    `<g><title>${title}</title>`,
    `<text x="${LABEL - 6}" y="${y + 11}" font-size="10" text-anchor="end" fill="#2d3748">${escape(`${job.check} · ${job.id.slice(-6)}`)}</text>`,
    `<rect x="${x(created).toFixed(1)}" y="${y + 3}" width="${Math.max(1, x(waitEnd) - x(created)).toFixed(1)}" height="10" fill="#cbd5e0"/>`,
  ];
  if (started !== null) {
    parts.push(
      `<rect x="${x(started).toFixed(1)}" y="${y + 3}" width="${Math.max(1, x(finished) - x(started)).toFixed(1)}" height="10" fill="${color}"/>`,
    );
  }
  if (job.status === 'cancelled') {
    parts.push(
      `<text x="${(x(finished) + 3).toFixed(1)}" y="${y + 12}" font-size="11" fill="${COLORS.cancelled}">✕</text>`,
    );
  }
  parts.push('</g>');
  return parts.join('');
}

function legend(y: number): string {
  const items: Array<[string, string]> = [
    ['queue wait', '#cbd5e0'],
    ['run, completed', COLORS.completed ?? ''],
    ['failed', COLORS.failed ?? ''],
    ['cancelled (✕)', COLORS.cancelled ?? ''],
  ];
  return items
    .map(([name, fill], i) => {
      const x = LABEL + i * 130;
      return `<rect x="${x}" y="${y}" width="10" height="10" fill="${fill}"/><text x="${x + 14}" y="${y + 9}" font-size="10" fill="#2d3748">${name}</text>`;
    })
    .join('');
}

/** The SVG document for `jobs` (an empty chart says so). */
export function timelineSvg(jobs: readonly JobRecord[]): string {
  const sorted = [...jobs].sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at));
  const t0 = Math.min(...sorted.map((j) => Date.parse(j.created_at)));
  const end = Math.max(
    t0 + 1000,
    ...sorted.map((j) => ms(j.finished_at) ?? ms(j.started_at) ?? Date.parse(j.created_at)),
  );
  const span = (end - t0) / 1000;
  const height = TOP + Math.max(1, sorted.length) * ROW + 30;
  const width = LABEL + PLOT + 30;
  const body =
    sorted.length === 0
      ? `<text x="${LABEL}" y="${TOP + 12}" font-size="12">No jobs ran.</text>`
      : axis(span, height - 20) + sorted.map((j, i) => row(j, i, t0, end, span)).join('');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="14" font-size="12" font-weight="bold" fill="#1a202c">arrakis bench: ${sorted.length} jobs, queue wait and run</text>`,
    body,
    legend(height - 18),
    '</svg>',
    '',
  ].join('\n');
}
