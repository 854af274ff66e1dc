/**
 * Reads a job trace: CSV with a header row naming `timestamp` and `duration_s`, optionally `user` and `model`
 * (any order, extra columns ignored), parsed with csv-parse so quoted fields may hold commas. Timestamps are
 * ISO 8601 or epoch seconds (values above 1e11 are taken as milliseconds); an ISO timestamp without an offset
 * is UTC, never the host's zone. A row with a zero, negative or unreadable value is an error naming its line,
 * or, with `skipInvalid`, is skipped and counted.
 */
import { parse } from 'csv-parse/sync';
import { z } from 'zod';
import type { SimJob } from './workload.js';

export class TraceError extends Error {
  readonly code = 'trace_invalid';
}

export interface ParsedTrace {
  jobs: SimJob[];
  /** Rows skipped as invalid (only with skipInvalid), and the first few of their line numbers. */
  skipped: number;
  skippedLines: number[];
}

const Duration = z.coerce.number().positive().max(86_400);
const Rows = z.array(z.array(z.string()));

// Date and time, optional seconds and fraction, optional offset (Z, +hh:mm, +hhmm, +hh).
const ISO =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/** Offset in minutes of "Z", "+02:00", "-0530" or "+02"; 0 when absent (UTC). */
function offsetMinutes(raw: string | undefined): number {
  if (raw === undefined || raw.toUpperCase() === 'Z') return 0;
  const sign = raw.startsWith('-') ? -1 : 1;
  const digits = raw.slice(1).replace(':', '');
  return sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || '0'));
}

/** Epoch milliseconds of a trace timestamp, or null when it is not one. */
export function parseTimestamp(raw: string): number | null {
  const s = raw.trim();
  if (/^\d+(\.\d+)?$/.test(s)) {
    const n = Number(s);
    return n > 1e11 ? n : n * 1000;
  }
  const m = ISO.exec(s);
  if (m === null) return null;
  const [, y, mo, d, h, mi, sec, frac, off] = m;
  const ms = Date.UTC(
    Number(y),
    Number(mo) - 1,
    Number(d),
    Number(h ?? 0),
    Number(mi ?? 0),
    Number(sec ?? 0),
    frac === undefined ? 0 : Math.round(Number(frac) * 1000),
  );
  const check = new Date(ms);
  // Date.UTC rolls 2026-02-31 over into March; a trace with such a date is wrong, not shifted.
  if (check.getUTCMonth() !== Number(mo) - 1 || check.getUTCDate() !== Number(d)) return null;
  return ms - offsetMinutes(off) * 60_000;
}

interface Columns {
  timestamp: number;
  duration: number;
  user: number | null;
  model: number | null;
}

function columns(header: string[]): Columns {
  const names = header.map((h) => h.trim().toLowerCase());
  const at = (n: string) => {
    const i = names.indexOf(n);
    return i < 0 ? null : i;
  };
  const timestamp = at('timestamp');
  const duration = at('duration_s');
  if (timestamp === null || duration === null) {
    throw new TraceError(
      `trace line 1 must be a header naming timestamp,duration_s (optionally user, model), got "${header.join(',')}"`,
    );
  }
  return { timestamp, duration, user: at('user'), model: at('model') };
}

function cell(row: string[], i: number | null): string {
  return i === null ? '' : (row[i] ?? '').trim();
}

/** Parses trace CSV text into jobs sorted by submission time. */
export function parseTrace(text: string, opts: { skipInvalid?: boolean } = {}): ParsedTrace {
  let rows: string[][];
  let lines: number[];
  try {
    const records = parse(text, {
      relax_column_count: true,
      skip_empty_lines: true,
      comment: '#',
      info: true,
      bom: true,
    }) as unknown as Array<{ record: unknown; info: { lines: number } }>;
    rows = Rows.parse(records.map((r) => r.record));
    lines = records.map((r) => r.info.lines);
  } catch (err) {
    throw new TraceError(`trace is not valid CSV: ${err instanceof Error ? err.message : String(err)}`);
  }
  const [header, ...body] = rows;
  if (header === undefined) throw new TraceError('trace is empty (expected a header row and jobs)');
  const col = columns(header);
  const jobs: SimJob[] = [];
  const skippedLines: number[] = [];
  let skipped = 0;
  body.forEach((row, i) => {
    const line = lines[i + 1] ?? i + 2;
    const at = parseTimestamp(cell(row, col.timestamp));
    const duration = Duration.safeParse(cell(row, col.duration));
    if (at === null || !duration.success) {
      if (opts.skipInvalid !== true) {
        throw new TraceError(
          `trace line ${line}: expected an ISO 8601 or epoch-seconds timestamp and a duration_s > 0 ` +
            `(at most 86400), got "${row.join(',')}"; --skip-invalid skips such rows`,
        );
      }
      skipped++;
      if (skippedLines.length < 10) skippedLines.push(line);
      return;
    }
    const user = cell(row, col.user);
    const model = cell(row, col.model);
    jobs.push({
      at,
      durationS: duration.data,
      user: user === '' ? `line${line}` : user,
      model: model === '' ? null : model,
    });
  });
  if (jobs.length === 0) throw new TraceError('trace has no valid jobs');
  return { jobs: jobs.sort((a, b) => a.at - b.at), skipped, skippedLines };
}
