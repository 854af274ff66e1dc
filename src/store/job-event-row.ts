/**
 * A `job_events` row → JobEvent. The SSE route reads the log after every bus message of a job (several times
 * per job); this check does what the zod row schema did (the five columns, `data` a JSON object) in a fifth of
 * its time (bench/row-parse.ts), and names the column that is wrong.
 */
import type { JobEvent } from './contract.js';
import { describe, isRecord, MalformedRowError, parseJsonText, withoutProtoKey } from './row-checks.js';

/** The columns of an event, in the order the SQL selects them. */
export const JOB_EVENT_COLUMNS = 'job_id, seq, type, data, at';

const TYPES: ReadonlySet<string> = new Set<JobEvent['type']>(['status', 'progress', 'output', 'done']);

function isEventType(v: unknown): v is JobEvent['type'] {
  return typeof v === 'string' && TYPES.has(v);
}

/** A finite number, as zod's number() accepts. */
function isNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/** A row selected with JOB_EVENT_COLUMNS → JobEvent; MalformedRowError names what is wrong. */
export function toJobEvent(row: unknown): JobEvent {
  if (!isRecord(row)) throw new MalformedRowError('job_events', 'row', `is ${describe(row)}`);
  const { job_id: jobId, seq, type, at } = row;
  const bad = (column: string, v: unknown, want: string): MalformedRowError =>
    new MalformedRowError('job_events', column, `is ${describe(v)}, not ${want}`);
  if (typeof jobId !== 'string') throw bad('job_id', jobId, 'a string');
  if (!isNumber(seq)) throw bad('seq', seq, 'a number');
  if (!isEventType(type)) {
    throw new MalformedRowError(
      'job_events',
      'type',
      `is ${JSON.stringify(type)}, not one of ${[...TYPES].join(', ')}`,
    );
  }
  if (!isNumber(at)) throw bad('at', at, 'a number');
  const data = parseJsonText('job_events', 'data', row.data);
  if (!isRecord(data)) throw bad('data', data, 'a JSON object');
  return { jobId, seq, type, data: withoutProtoKey(data), at };
}

/**
 * The event an insert of these values writes, as toJobEvent reads it back (the same parse of the same text):
 * what a verb hands its caller of the events it appended (FinishResult.events).
 */
export function writtenEvent(
  jobId: string,
  seq: number,
  type: JobEvent['type'],
  data: string,
  at: number,
): JobEvent {
  return toJobEvent({ job_id: jobId, seq, type, data, at });
}
