/**
 * Reads a job trace: one job a line, `timestamp, duration_s[, user]`. A first line whose duration is not a
 * number is a header. Timestamps are ISO 8601 or epoch seconds (values above 1e11 are taken as milliseconds).
 */
import { z } from 'zod';
import type { SimJob } from './workload.js';

export class TraceError extends Error {
  readonly code = 'trace_invalid';
}

const Duration = z.coerce.number().positive().max(86_400);

function parseTimestamp(raw: string): number | null {
  if (/^\d+(\.\d+)?$/.test(raw)) {
    const n = Number(raw);
    return n > 1e11 ? n : n * 1000;
  }
  const ms = Date.parse(raw);
  return Number.isNaN(ms) ? null : ms;
}

/** Parses trace CSV text into jobs sorted by submission time; errors name the line and what is accepted. */
export function parseTrace(text: string): SimJob[] {
  const jobs: SimJob[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const cells = trimmed.split(',').map((c) => c.trim());
    const duration = Duration.safeParse(cells[1]);
    if (jobs.length === 0 && i === lines.findIndex((l) => l.trim() !== '') && !duration.success) return;
    const at = parseTimestamp(cells[0] ?? '');
    if (at === null || !duration.success) {
      throw new TraceError(
        `trace line ${i + 1}: expected "timestamp, duration_s[, user]" with an ISO 8601 or epoch-seconds ` +
          `timestamp and a positive duration in seconds, got "${trimmed}"`,
      );
    }
    jobs.push({
      at,
      durationS: duration.data,
      user: cells[2] !== undefined && cells[2] !== '' ? cells[2] : `line${i + 1}`,
    });
  });
  if (jobs.length === 0) throw new TraceError('trace has no jobs');
  return jobs.sort((a, b) => a.at - b.at);
}
