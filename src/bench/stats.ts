/** Small statistics for the report: nearest-rank percentiles and interval overlap. */

/** The nearest-rank percentile `p` (0–100) of `values`, or null when empty. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1] ?? null;
}

/** The most intervals `[start, end)` open at one instant (how many jobs ran at once). */
export function peakOverlap(intervals: ReadonlyArray<readonly [number, number]>): number {
  const edges: Array<[number, number]> = [];
  for (const [start, end] of intervals) {
    if (end <= start) continue;
    edges.push([start, 1], [end, -1]);
  }
  // Ends sort before starts at the same instant: back-to-back jobs do not overlap.
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let open = 0;
  let peak = 0;
  for (const [, delta] of edges) {
    open += delta;
    peak = Math.max(peak, open);
  }
  return peak;
}
