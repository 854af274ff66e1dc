/**
 * A hand-written SVG of a simulation: p95 queue wait per hour (top) and mean workers per hour against busy
 * GPUs (bottom), for the autoscaler and one baseline side by side.
 */
import type { ScenarioReport } from './report.js';

const W = 1100;
const PANEL_H = 220;
const PAD = { left: 60, right: 20, top: 30, gap: 50, bottom: 40 };
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd'];

function escapeXml(s: string): string {
  return s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c] ?? c);
}

function polyline(values: number[], top: number, maxY: number, color: string, dashed = false): string {
  const plotW = W - PAD.left - PAD.right;
  const step = values.length > 1 ? plotW / (values.length - 1) : 0;
  const pts = values
    .map(
      (v, i) =>
        `${(PAD.left + i * step).toFixed(1)},${(top + PANEL_H - (Math.min(v, maxY) / maxY) * PANEL_H).toFixed(1)}`,
    )
    .join(' ');
  return `<polyline fill="none" stroke="${color}" stroke-width="1.4"${dashed ? ' stroke-dasharray="4 3"' : ''} points="${pts}"/>`;
}

function axes(top: number, maxY: number, label: string, hours: number): string {
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const y = top + PANEL_H - f * PANEL_H;
    return (
      `<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${y}" y2="${y}" stroke="#eee"/>` +
      `<text x="${PAD.left - 6}" y="${y + 4}" text-anchor="end" font-size="11">${(f * maxY).toFixed(f * maxY < 10 ? 1 : 0)}</text>`
    );
  });
  const plotW = W - PAD.left - PAD.right;
  const days = Array.from({ length: Math.ceil(hours / 24) }, (_, d) => {
    const x = PAD.left + (hours > 1 ? (d * 24 * plotW) / (hours - 1) : 0);
    return (
      `<line x1="${x}" x2="${x}" y1="${top}" y2="${top + PANEL_H}" stroke="#ddd"/>` +
      `<text x="${x + 3}" y="${top + PANEL_H + 14}" font-size="10">day ${d + 1}</text>`
    );
  });
  return [
    ...ticks,
    ...days,
    `<text x="${PAD.left}" y="${top - 8}" font-size="13" font-weight="bold">${escapeXml(label)}</text>`,
  ].join('');
}

/** Renders the chart for `reports` (the first two are drawn; the first is the autoscaler). */
export function renderSvg(reports: readonly ScenarioReport[]): string {
  const shown = reports.slice(0, 2);
  const hours = shown[0]?.hours.length ?? 0;
  const waitMax = Math.max(10, ...shown.flatMap((r) => r.hours.map((h) => Math.min(h.p95WaitS, 120))));
  const workerMax = Math.max(
    1,
    ...shown.flatMap((r) => r.hours.map((h) => Math.max(h.meanWorkers, h.busyGpus))),
  );
  const top1 = PAD.top;
  const top2 = PAD.top + PANEL_H + PAD.gap;
  const height = top2 + PANEL_H + PAD.bottom + 20;
  const lines = shown.flatMap((r, i) => [
    polyline(
      r.hours.map((h) => h.p95WaitS),
      top1,
      waitMax,
      COLORS[i] ?? '#000',
    ),
    polyline(
      r.hours.map((h) => h.meanWorkers),
      top2,
      workerMax,
      COLORS[i] ?? '#000',
    ),
  ]);
  const busy =
    shown[0] === undefined
      ? ''
      : polyline(
          shown[0].hours.map((h) => h.busyGpus),
          top2,
          workerMax,
          '#555',
          true,
        );
  const legend = [
    ...shown.map((r, i) => ({ label: r.name, color: COLORS[i] ?? '#000', dashed: false })),
    { label: 'busy GPUs (job seconds per hour)', color: '#555', dashed: true },
  ]
    .map((l, i) => {
      const x = PAD.left + i * 300;
      const y = height - 12;
      return (
        `<line x1="${x}" x2="${x + 24}" y1="${y - 4}" y2="${y - 4}" stroke="${l.color}" stroke-width="2"${l.dashed ? ' stroke-dasharray="4 3"' : ''}/>` +
        `<text x="${x + 30}" y="${y}" font-size="12">${escapeXml(l.label)}</text>`
      );
    })
    .join('');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    axes(top1, waitMax, 'p95 queue wait per hour (s, capped at 120)', hours),
    axes(top2, workerMax, 'mean workers per hour', hours),
    ...lines,
    busy,
    legend,
    '</svg>',
    '',
  ].join('\n');
}
