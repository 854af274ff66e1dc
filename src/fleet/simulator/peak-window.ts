/**
 * The `--peak` window: "Mon-Fri 09:00-18:00", "daily 12-18", "Sat,Sun 10:00-16:00 +01:00". Every "peak"
 * figure of a report counts the jobs submitted inside it, and the peak-profile baseline keeps its warm pool
 * over the same window. Times are UTC unless an offset follows.
 */
import type { Schedule } from '../schedule.js';
import { TraceError } from './trace-csv.js';

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const PATTERN =
  /^\s*(daily|weekdays|weekends|[a-z]{3}(?:\s*-\s*[a-z]{3})?(?:\s*,\s*[a-z]{3}(?:\s*-\s*[a-z]{3})?)*)\s+(\d{1,2})(?::(\d{2}))?\s*-\s*(\d{1,2})(?::(\d{2}))?(?:\s+(UTC|Z|[+-]\d{2}:\d{2}))?\s*$/i;

function dayIndex(name: string, what: string): number {
  const i = DAYS.indexOf(name.trim().toLowerCase());
  if (i < 0) throw new TraceError(`${what}: unknown day "${name}" (use ${DAYS.join(', ')})`);
  return i;
}

function parseDays(raw: string, what: string): number[] {
  const word = raw.toLowerCase();
  if (word === 'daily') return [0, 1, 2, 3, 4, 5, 6];
  if (word === 'weekdays') return [1, 2, 3, 4, 5];
  if (word === 'weekends') return [0, 6];
  const days = new Set<number>();
  for (const part of raw.split(',')) {
    const [from, to] = part.split('-');
    const a = dayIndex(from ?? '', what);
    const b = to === undefined ? a : dayIndex(to, what);
    // Bounded: at most 7 steps around the week.
    for (let d = a, n = 0; n < 7; d = (d + 1) % 7, n++) {
      days.add(d);
      if (d === b) break;
    }
  }
  return [...days].sort();
}

/**
 * Parses a peak window into a schedule (with no min or buffer of its own). `label` names the setting in
 * errors (`--peak`, `--latency-hours`, `latency_hours`).
 */
export function parsePeak(spec: string, label = '--peak'): Schedule {
  const what = `${label} "${spec}"`;
  const m = PATTERN.exec(spec);
  if (m === null) {
    throw new TraceError(
      `${what}: expected days and hours like "Mon-Fri 09:00-18:00" (UTC, or an offset like "+01:00" after)`,
    );
  }
  const [, days, h1, m1, h2, m2, tz] = m;
  // Minutes past 59 would silently roll into the next hour (09:75 read as 10:15): refused, like schedules' hours.
  if (Number(m1 ?? 0) > 59 || Number(m2 ?? 0) > 59) {
    throw new TraceError(`${what}: minutes must be 00-59`);
  }
  const startMinute = Number(h1) * 60 + Number(m1 ?? 0);
  const endMinute = Number(h2) * 60 + Number(m2 ?? 0);
  if (startMinute > 1440 || endMinute > 1440 || startMinute === endMinute) {
    throw new TraceError(`${what}: hours must be two different times of a 24-hour day`);
  }
  let offsetMinutes = 0;
  if (tz !== undefined && /^[+-]/.test(tz)) {
    const [hh, mm] = [Number(tz.slice(1, 3)), Number(tz.slice(4, 6))];
    if (hh > 23 || mm > 59) throw new TraceError(`${what}: the offset must be between -23:59 and +23:59`);
    offsetMinutes = (tz.startsWith('-') ? -1 : 1) * (hh * 60 + mm);
  }
  return {
    name: `peak ${spec.trim()}`,
    days: parseDays(days ?? '', what),
    startMinute,
    endMinute,
    offsetMinutes,
    min: null,
    buffer: null,
  };
}
