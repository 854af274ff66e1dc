/**
 * `Prefer: wait=N` on POST /v1/jobs (RFC 7240): hold the answer up to N seconds (at most 60) for the job to
 * end, so a short job is one request. The wait follows the event bus (any replica's transitions reach it); the
 * safety net for a missed notification is the replica's event poll (event-poll.ts), shared with the event
 * streams: a hold costs no read of its own while its job does not move.
 */
import type { FastifyRequest } from 'fastify';
import { BusWaiter } from '../events/bus-waiter.js';
import { TERMINAL_STATUSES } from '../jobs/types.js';
import type { JobView } from '../jobs/public-job.js';
import type { ApiContext } from './context.js';
import type { PolledStream } from './event-poll.js';
import { traceJob } from '../util/job-trace.js';

export const MAX_PREFER_WAIT_S = 60;

/**
 * The `wait` preference in seconds, capped at 60, or null when none was expressed. Preferences are
 * comma-separated tokens (`respond-async, wait=10`); an unparseable value is ignored, as RFC 7240 asks.
 */
export function preferredWait(header: string | string[] | undefined): number | null {
  const text = Array.isArray(header) ? header.join(',') : header;
  if (text === undefined) return null;
  for (const preference of text.split(',')) {
    const m = /^\s*wait\s*=\s*"?(\d{1,6})"?\s*(;.*)?$/i.exec(preference);
    if (m?.[1] !== undefined) return Math.min(Number(m[1]), MAX_PREFER_WAIT_S);
  }
  return null;
}

/**
 * A hold as the replica's event poll watches it: woken when its job has events past the last seq the poll told
 * it of, or when the row is gone. At first that is 0 (a job is admitted with none; a replayed submission's job
 * that has moved costs one re-read at the first period). The poll read the seq before the re-read it wakes, so
 * a `done` at or below it is in that re-read and one past it wakes the hold again; progress alone wakes it once
 * per period at most.
 */
class PolledHold implements PolledStream {
  sent = 0;
  /** The waiter of the wait under way (a wake-up between two waits is covered by the next one's re-read). */
  waiter: BusWaiter | undefined;

  polled(lastSeq: number | undefined): void {
    if (lastSeq !== undefined) this.sent = lastSeq;
    this.waiter?.fire();
  }
}

/**
 * Waits until job `job` of `owner` has ended or `seconds` passed, the client went away, or the server drains.
 * Returns the job as last read; each wake reads only the public columns (as GET /v1/jobs/{id} does).
 */
export async function waitForJobEnd(
  ctx: ApiContext,
  owner: { accountId: string; userId: string },
  job: JobView,
  seconds: number,
  signal: AbortSignal,
): Promise<JobView> {
  const deadline = Date.now() + seconds * 1000;
  let current = job;
  const hold = new PolledHold();
  const unwatch = ctx.eventPoll.watch(job.id, hold);
  try {
    while (!TERMINAL_STATUSES.includes(current.status) && !signal.aborted) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      // Subscribe before re-reading, so a transition between the read and the wait still wakes us.
      // Only the job's end (or a message that cannot say) is worth a re-read: not its progress.
      const waiter = new BusWaiter(
        ctx.bus,
        (m) => (m.kind === 'job_event' && m.jobId === job.id && m.ended !== false) || m.kind === 'resync',
      );
      hold.waiter = waiter;
      try {
        // A job this replica just completed is in its memory (the completion's own row): no read.
        current =
          ctx.recentCompletions?.viewFor(owner.accountId, owner.userId, job.id) ??
          (await ctx.store.getJobViewFor(owner.accountId, owner.userId, job.id)) ??
          current;
        if (TERMINAL_STATUSES.includes(current.status)) break;
        await waiter.wait(remaining, signal);
      } finally {
        hold.waiter = undefined;
        waiter.dispose();
      }
    }
  } finally {
    unwatch();
  }
  traceJob(job.id, 'wait ended');
  return current;
}

/** Aborts when the client disconnects or the API drains (answering 202 then lets clients resume elsewhere). */
export function waitSignal(
  ctx: ApiContext,
  request: FastifyRequest,
): { signal: AbortSignal; release: () => void } {
  const controller = new AbortController();
  const abort = (): void => controller.abort();
  const socket = request.raw.socket;
  socket.once('close', abort);
  ctx.streams.add(abort);
  // A client that left during the submission closed its socket before the listener above existed; a drain that
  // ran meanwhile ended the holds it found, not this one (answering 202 now, the client polls elsewhere).
  if (socket.destroyed || ctx.isDraining()) abort();
  return {
    signal: controller.signal,
    release: () => {
      socket.off('close', abort);
      ctx.streams.delete(abort);
    },
  };
}

/** The origin absolute URLs start with: `--public-url`, else the request's protocol and Host. */
export function publicOrigin(ctx: ApiContext, request: FastifyRequest): string {
  if (ctx.config.publicUrl !== undefined) return ctx.config.publicUrl.replace(/\/+$/, '');
  return `${request.protocol}://${request.host}`;
}
