/** Job events: a per-job sequence (jobs.event_seq) that SSE resumes from. */
import type { JobEvent } from '../contract.js';
import { inTx, run, runOne, type StoreContext } from '../context.js';
import { toJobEvent } from '../job-event-row.js';
import { describe, isRecord, MalformedRowError } from '../row-checks.js';
import { seqSchema } from './settle.js';

/** Thrown when appending an event to a job that does not exist. */
export class UnknownJobError extends Error {
  constructor(jobId: string) {
    super(`job ${jobId} does not exist`);
    this.name = 'UnknownJobError';
  }
}

/** Store.appendJobEvent: takes the next seq from the job row (a row lock on Postgres) and inserts. */
export async function appendJobEvent(
  ctx: StoreContext,
  jobId: string,
  type: JobEvent['type'],
  data: Record<string, unknown>,
  now: number,
): Promise<JobEvent> {
  return await inTx(ctx, async (tx) => {
    const row = (await run(tx, ctx.sql.nextEventSeq, [jobId]))[0];
    if (row === undefined) throw new UnknownJobError(jobId);
    const seq = seqSchema.parse(row).event_seq;
    await run(tx, ctx.sql.insertEvent, [jobId, seq, type, JSON.stringify(data), now]);
    return { jobId, seq, type, data, at: now };
  });
}

/** Store.listJobEvents: events after `afterSeq`, in order; one prepared statement, synchronously on SQLite. */
export async function listJobEvents(ctx: StoreContext, jobId: string, afterSeq: number): Promise<JobEvent[]> {
  const rows = await runOne(ctx, ctx.sql.eventsAfter, [jobId, afterSeq]);
  return rows.map(toJobEvent);
}

/**
 * Ids per statement in jobEventSeqs: the ids go in one JSON text parameter, so no bound-parameter limit applies,
 * but a slice bounds each statement (on SQLite, each synchronous hold of the connection and the event loop),
 * so the requests of the moment run between the slices of a poll over 10,000 open streams.
 */
const IDS_PER_STATEMENT = 300;

/** An (id, event_seq) row, checked by hand (as job-event-row.ts): zod's object parse per row of 10,000 cost more
 *  than the statement. */
function seqRow(row: unknown): { id: string; seq: number } {
  if (!isRecord(row)) throw new MalformedRowError('jobs', 'row', `is ${describe(row)}`);
  const { id, event_seq: seq } = row;
  if (typeof id !== 'string') throw new MalformedRowError('jobs', 'id', `is ${describe(id)}, not a string`);
  if (typeof seq !== 'number' || !Number.isFinite(seq)) {
    throw new MalformedRowError('jobs', 'event_seq', `is ${describe(seq)}, not a number`);
  }
  return { id, seq };
}

/** Store.jobEventSeqs: one prepared statement per slice of ids, synchronously on SQLite. */
export async function jobEventSeqs(
  ctx: StoreContext,
  jobIds: readonly string[],
): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const ids = [...new Set(jobIds)];
  for (let i = 0; i < ids.length; i += IDS_PER_STATEMENT) {
    const slice = JSON.stringify(ids.slice(i, i + IDS_PER_STATEMENT));
    for (const row of await runOne(ctx, ctx.sql.eventSeqs, [slice])) {
      const r = seqRow(row);
      out.set(r.id, r.seq);
    }
  }
  return out;
}
