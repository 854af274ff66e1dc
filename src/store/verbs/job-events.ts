/** Job events: a per-job sequence (jobs.event_seq) that SSE resumes from. */
import type { JobEvent } from '../contract.js';
import { inTx, run, runOne, type StoreContext } from '../context.js';
import { toJobEvent } from '../job-event-row.js';
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
