/**
 * A hand-written SVG of a simulation, every scenario in one chart: p95 wait per hour (hours without jobs are
 * gaps, not zeros), mean workers per hour against busy GPUs, and each scenario's peak p95 wait against its
 * cost (× the GPU-second floor, and in money) so the frontier is visible. Axis ticks fall on round numbers.
 */
import type { ScenarioReport } from './report.js';

const W = 1100;
const PANEL_H = 200;
const SCATTER_H = 260;
const PAD = { left: 60, right: 20, top: 30, gap: 56 };
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf'];
const WAIT_CAP_S = 120;
const SCATTER_MAX_RATIO = 5;

function escapeXml(s: string): string {
  return s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c] ?? c);
}

/** Round tick values from 0 covering `max`: steps of 1, 2 or 5 × a power of ten, about five of them. */
export function niceTicks(max: number, target = 5): number[] {
  const top = max > 0 ? max : 1;
  const raw = top / target;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const ticks: number[] = [];
  for (let v = 0; v < top + step * 0.999; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(v < 1 ? 2 : 1);
}

interface Frame {
  left: number;
  top: number;
  width: number;
  height: number;
  xMax: number;
  yMax: number;
  xMin?: number;
}

function xOf(f: Frame, x: number): number {
  const min = f.xMin ?? 0;
  return f.left + ((x - min) / Math.max(1e-9, f.xMax - min)) * f.width;
}

function yOf(f: Frame, y: number): number {
  return f.top + f.height - (Math.min(y, f.yMax) / f.yMax) * f.height;
}

/** A line through the points; a null value breaks it (an hour without jobs is not a zero). */
function path(values: ReadonlyArray<number | null>, f: Frame, color: string, dashed = false): string {
  let d = '';
  let pen = false;
  values.forEach((v, i) => {
    if (v === null) {
      pen = false;
      return;
    }
    d += `${pen ? 'L' : 'M'}${xOf(f, i).toFixed(1)},${yOf(f, v).toFixed(1)}`;
    pen = true;
  });
  const dash = dashed ? ' stroke-dasharray="4 3"' : '';
  return `<path fill="none" stroke="${color}" stroke-width="1.3"${dash} d="${d}"/>`;
}

function yAxis(f: Frame, label: string): string {
  const ticks = niceTicks(f.yMax);
  const yMax = ticks[ticks.length - 1] ?? f.yMax;
  const g = { ...f, yMax };
  return [
    ...ticks.map((t) => {
      const y = yOf(g, t).toFixed(1);
      return (
        `<line x1="${f.left}" x2="${f.left + f.width}" y1="${y}" y2="${y}" stroke="#eee"/>` +
        `<text x="${f.left - 6}" y="${Number(y) + 4}" text-anchor="end" font-size="11">${fmt(t)}</text>`
      );
    }),
    `<text x="${f.left}" y="${f.top - 10}" font-size="13" font-weight="bold">${escapeXml(label)}</text>`,
  ].join('');
}

function dayAxis(f: Frame, hours: number, startIso: string | undefined): string {
  const start = startIso === undefined ? null : new Date(startIso);
  const names = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  return Array.from({ length: Math.ceil(hours / 24) }, (_, d) => {
    const x = xOf(f, d * 24).toFixed(1);
    const day = start === null ? `day ${d + 1}` : names[(start.getUTCDay() + d) % 7];
    return (
      `<line x1="${x}" x2="${x}" y1="${f.top}" y2="${f.top + f.height}" stroke="#ddd"/>` +
      `<text x="${Number(x) + 3}" y="${f.top + f.height + 14}" font-size="10">${day}</text>`
    );
  }).join('');
}

function withTop(f: Frame): Frame {
  const ticks = niceTicks(f.yMax);
  return { ...f, yMax: ticks[ticks.length - 1] ?? f.yMax };
}

function timePanels(shown: readonly ScenarioReport[], top: number): string[] {
  const hours = shown[0]?.hours.length ?? 0;
  const width = W - PAD.left - PAD.right;
  const waitMax = Math.max(10, ...shown.flatMap((r) => r.hours.map((h) => Math.min(h.p95WaitS, WAIT_CAP_S))));
  const workerMax = Math.max(
    1,
    ...shown.flatMap((r) => r.hours.map((h) => Math.max(h.meanWorkers, h.busyGpus))),
  );
  const waits = withTop({
    left: PAD.left,
    top,
    width,
    height: PANEL_H,
    xMax: Math.max(1, hours - 1),
    yMax: waitMax,
  });
  const workers = withTop({ ...waits, top: top + PANEL_H + PAD.gap, yMax: workerMax });
  const start = shown[0]?.hours[0]?.hour;
  return [
    yAxis(waits, `p95 wait to execution start per hour (s, capped at ${WAIT_CAP_S}; gaps: no jobs)`),
    dayAxis(waits, hours, start),
    yAxis(workers, 'mean workers per hour (dashed: busy GPUs)'),
    dayAxis(workers, hours, start),
    ...shown.map((r, i) =>
      path(
        r.hours.map((h) => (h.arrivals === 0 ? null : Math.min(h.p95WaitS, WAIT_CAP_S))),
        waits,
        COLORS[i % COLORS.length]!,
      ),
    ),
    ...shown.map((r, i) =>
      path(
        r.hours.map((h) => h.meanWorkers),
        workers,
        COLORS[i % COLORS.length]!,
      ),
    ),
    shown[0] === undefined
      ? ''
      : path(
          shown[0].hours.map((h) => h.busyGpus),
          workers,
          '#555',
          true,
        ),
  ];
}

/** Whether a scenario fits the scatter's scale (the seed's two workers queue for hours; always-on costs 9×). */
function onScale(r: ScenarioReport): boolean {
  return r.peakWait.p95 <= WAIT_CAP_S && r.lowerBoundRatio <= SCATTER_MAX_RATIO;
}

/** Peak p95 wait against cost for each scenario on scale: the lower left is better. */
function scatter(shown: readonly ScenarioReport[], top: number): string[] {
  const fits = shown.filter(onScale);
  const xTicks = niceTicks(Math.max(1, ...fits.map((r) => r.lowerBoundRatio)) * 1.05);
  const yTicks = niceTicks(Math.max(10, ...fits.map((r) => r.peakWait.p95)) * 1.1);
  const f: Frame = {
    left: PAD.left,
    top,
    width: W - PAD.left - PAD.right - 320,
    height: SCATTER_H,
    xMax: xTicks[xTicks.length - 1] ?? 1,
    yMax: yTicks[yTicks.length - 1] ?? 10,
  };
  const xs = xTicks.map((t) => {
    const x = xOf(f, t).toFixed(1);
    return (
      `<line x1="${x}" x2="${x}" y1="${f.top}" y2="${f.top + f.height}" stroke="#eee"/>` +
      `<text x="${x}" y="${f.top + f.height + 14}" text-anchor="middle" font-size="11">${fmt(t)}×</text>`
    );
  });
  const points = shown.flatMap((r, i) => {
    if (!onScale(r)) return [];
    const x = xOf(f, r.lowerBoundRatio).toFixed(1);
    const y = yOf(f, r.peakWait.p95).toFixed(1);
    return [`<circle cx="${x}" cy="${y}" r="5" fill="${COLORS[i % COLORS.length]!}"/>`];
  });
  return [
    yAxis(f, 'peak p95 wait (s) against cost (× the GPU-second floor); lower left is better'),
    ...xs,
    ...points,
    ...legend(shown, f.left + f.width + 20, f.top + 4),
  ];
}

function legend(shown: readonly ScenarioReport[], x: number, y: number): string[] {
  return shown.map((r, i) => {
    const yy = y + i * 30;
    const cost = r.cost > 0 ? `$${r.cost.toFixed(0)}, ` : '';
    const off = onScale(r) ? '' : ' (off the scatter)';
    return (
      `<rect x="${x}" y="${yy}" width="12" height="12" fill="${COLORS[i % COLORS.length]!}"/>` +
      `<text x="${x + 18}" y="${yy + 10}" font-size="12">${escapeXml(r.name)}</text>` +
      `<text x="${x + 18}" y="${yy + 24}" font-size="11" fill="#444">${escapeXml(
        `${cost}${r.lowerBoundRatio.toFixed(2)}× floor, peak p95 ${r.peakWait.p95.toFixed(1)} s${off}`,
      )}</text>`
    );
  });
}

/** Renders the chart for every scenario of a report. */
export function renderSvg(reports: readonly ScenarioReport[]): string {
  const shown = reports.slice(0, COLORS.length);
  const scatterTop = PAD.top + 2 * (PANEL_H + PAD.gap) + 10;
  const height = scatterTop + SCATTER_H + 40;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    ...timePanels(shown, PAD.top),
    ...scatter(shown, scatterTop),
    '</svg>',
    '',
  ].join('\n');
}
