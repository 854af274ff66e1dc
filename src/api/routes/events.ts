/**
 * GET /v1/jobs/{id}/events — Server-Sent Events from the durable job_events log: `status`, `progress`,
 * `output`, `done`. The bus only says "something new for this job" (from any replica); the stream then reads
 * the log after the last seq it sent, so nothing is lost or repeated, and `Last-Event-ID` resumes.
 * Heartbeat comments keep proxies from closing an idle stream; the stream ends after `done`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { JobStatus } from '../../jobs/types.js';
import type { JobEvent } from '../../store/contract.js';
import { ApiError } from '../../errors.js';
import { requireScope } from '../auth/authenticate.js';
import { principalOf, type ApiContext } from '../context.js';
import { eventHeaders } from '../headers.js';
import { jobIdParams } from '../schemas.js';
import { traceJob } from '../../util/job-trace.js';
import { jobDoc, ownJobView } from './jobs.js';

const HEARTBEAT_MS = 15_000;
/** Safety net if a notification is ever missed (e.g. a Postgres listener reconnecting). */
const POLL_MS = 10_000;
/** Open streams one user, and one account, may hold on a replica. */
export const MAX_STREAMS_PER_USER = 20;
export const MAX_STREAMS_PER_ACCOUNT = 1000;

/** Counts a new stream against the caps; returns the release function, or throws 429 `rate_limited`. */
function admitStream(ctx: ApiContext, accountId: string, userId: string): () => void {
  const keys: Array<[string, number]> = [
    [accountId, MAX_STREAMS_PER_ACCOUNT],
    [`${accountId}/${userId}`, MAX_STREAMS_PER_USER],
  ];
  for (const [key, max] of keys) {
    if ((ctx.streamCounts.get(key) ?? 0) >= max) {
      throw new ApiError(
        'rate_limited',
        `Too many open event streams (at most ${max}); close one first.`,
        {},
        {
          'retry-after': '5',
        },
      );
    }
  }
  for (const [key] of keys) ctx.streamCounts.set(key, (ctx.streamCounts.get(key) ?? 0) + 1);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    for (const [key] of keys) {
      const n = (ctx.streamCounts.get(key) ?? 1) - 1;
      if (n <= 0) ctx.streamCounts.delete(key);
      else ctx.streamCounts.set(key, n);
    }
  };
}

function lastEventId(header: unknown, query: number | undefined): number {
  if (typeof header === 'string' && /^\d{1,12}$/.test(header)) return Number(header);
  return query ?? 0;
}

function writeEvent(reply: FastifyReply, e: JobEvent): void {
  reply.raw.write(`id: ${e.seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e.data)}\n\n`);
  if (e.type === 'done') traceJob(e.jobId, 'SSE done written');
}

/** Takes the response over from Fastify and writes the stream's head (and, when fresh, the job's status). */
function openStream(
  ctx: ApiContext,
  request: FastifyRequest,
  reply: FastifyReply,
  status: JobStatus,
  snapshot: boolean,
): void {
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
    ...corsHeaders(request.headers.origin, ctx),
  });
  raw.write(': arrakis job events\nretry: 2000\n\n');
  // A client watching a job nothing has happened to yet sees its state at once (no id: a snapshot, not a
  // log entry). Any other fresh stream replays the log, which ends at the state now: a snapshot before it
  // would put the end (`completed`) before the history (`running`, outputs).
  if (snapshot) raw.write(`event: status\ndata: ${JSON.stringify({ status, snapshot: true })}\n\n`);
}

/** Registers the SSE route. */
export async function eventRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/v1/jobs/:id/events',
    {
      schema: {
        ...jobDoc,
        summary: 'Live job events (text/event-stream): status, progress, output, done',
        headers: eventHeaders,
        params: jobIdParams,
        querystring: z.strictObject({ after: z.coerce.number().int().min(0).optional() }),
      },
    },
    async (request, reply) => {
      const p = principalOf(request);
      requireScope(p, 'jobs:read');
      const job = await ownJobView(ctx, p.account.id, p.userId, request.params.id);
      let sent = lastEventId(request.headers['last-event-id'], request.query.after);
      // Read before the stream takes its slot: a store error here must not leave the user's slot taken.
      const snapshot = sent === 0 && (await ctx.store.listJobEvents(job.id, 0)).length === 0;
      const release = admitStream(ctx, p.account.id, p.userId);
      openStream(ctx, request, reply, job.status, snapshot);
      const raw = reply.raw;

      let closed = false;
      let pumping: Promise<void> | null = null;
      let again = false;
      const finish = (): void => {
        if (closed) return;
        closed = true;
        release();
        ctx.streams.delete(finish);
        unsubscribe();
        clearInterval(heartbeat);
        clearInterval(poll);
        raw.end();
      };
      const pump = async (): Promise<void> => {
        do {
          again = false;
          const events = await ctx.store.listJobEvents(job.id, sent);
          for (const e of events) {
            if (closed) return;
            writeEvent(reply, e);
            sent = e.seq;
            if (e.type === 'done') return finish();
          }
        } while (again && !closed);
      };
      const wake = (): void => {
        if (closed) return;
        if (pumping !== null) {
          again = true;
          return;
        }
        pumping = pump()
          .catch((err: unknown) => {
            request.log.warn({ err }, 'sse pump failed');
            finish();
          })
          .finally(() => {
            pumping = null;
          });
      };
      const unsubscribe = ctx.bus.subscribe((m) => {
        if ((m.kind === 'job_event' && m.jobId === job.id) || m.kind === 'resync') wake();
      });
      const heartbeat = setInterval(() => raw.write(': keep-alive\n\n'), HEARTBEAT_MS);
      const poll = setInterval(wake, POLL_MS);
      raw.on('close', finish);
      ctx.streams.add(finish);
      // A client that left while the stream was being opened closed it before the listener above existed.
      if (raw.destroyed) return finish();
      // A client resuming after `done` of a finished job gets an empty stream that ends, not one that idles.
      const resumedPastEnd = sent > 0 && ['completed', 'failed', 'cancelled'].includes(job.status);
      if (resumedPastEnd) {
        // A store error ends the stream too (the client resumes with Last-Event-ID) instead of idling open.
        const rest = await ctx.store.listJobEvents(job.id, sent).catch(() => null);
        if (rest === null || rest.length === 0) return finish();
      }
      wake();
    },
  );
}

/** CORS headers for a hijacked response (the CORS plugin cannot add them after hijack). */
function corsHeaders(origin: string | undefined, ctx: ApiContext): Record<string, string> {
  if (origin === undefined || !ctx.config.corsOrigins.includes(origin)) return {};
  return { 'access-control-allow-origin': origin, vary: 'Origin' };
}
