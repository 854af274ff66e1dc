/**
 * GET /v1/jobs/{id}/events — Server-Sent Events from the durable job_events log: `status`, `progress`,
 * `output`, `done`. The bus says "something new for this job" (from any replica); the stream then reads
 * the log after the last seq it sent, so nothing is lost or repeated, and `Last-Event-ID` resumes. A message
 * published on this replica may carry the events its commit appended: when they continue exactly from the last
 * seq sent, the stream writes them without reading the log (they are the log's rows).
 * Heartbeat comments keep proxies from closing an idle stream; the stream ends after `done`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { TERMINAL_STATUSES } from '../../jobs/types.js';
import type { BusMessage } from '../../events/bus.js';
import type { JobEvent } from '../../store/contract.js';
import { ApiError } from '../../errors.js';
import { requireScope } from '../auth/authenticate.js';
import { principalOf, type ApiContext } from '../context.js';
import { eventHeaders } from '../headers.js';
import { jobIdParams } from '../schemas.js';
import { traceJob } from '../../util/job-trace.js';
import { jobDoc, ownJobStatus } from './jobs.js';

const HEARTBEAT_MS = 15_000;
/**
 * How long a non-final event (`running`, progress, a requeue) waits for company before it is written: a job's
 * events within this window go out in one write, and a job that ends within it in the same write as `done`
 * (each socket write costs a system call and wakes the client). `done` is never held.
 */
export const EVENT_BATCH_MS = 50;
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

/** One event in the stream's wire format. */
function eventText(e: JobEvent): string {
  return `id: ${e.seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e.data)}\n\n`;
}

/**
 * Takes the response over from Fastify and sends its head with `text` (the stream's first lines) in one
 * write; `end` ends the response there too.
 */
function openStream(
  ctx: ApiContext,
  request: FastifyRequest,
  reply: FastifyReply,
  text: string,
  end: boolean,
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
  if (end) raw.end(text);
  else raw.write(text);
}

/** Whether `m` is news for the stream of `jobId`. */
function concerns(m: BusMessage, jobId: string): boolean {
  return (m.kind === 'job_event' && m.jobId === jobId) || m.kind === 'resync';
}

/**
 * One open stream: pumps the log after the last seq it sent, one write per batch, until `done` or a close.
 * Woken by the bus, and by the replica's safety poll (event-poll.ts) when its job has events past `sent`.
 *
 * What it was told since its last read decides whether the next pump reads: events carried by this replica's
 * messages are kept (`carried`); any news without them (another replica's message, a resync, the poll) sets
 * `blind`. A pump writes the carried events without a read only when nothing blind was heard and they run
 * without a gap from `sent` + 1; otherwise it reads the log after `sent`, as it always did. Every event
 * committed is announced after its commit, so with nothing blind heard the carried events are all there is.
 */
class JobEventStream {
  private closed = false;
  private pumping: Promise<void> | null = null;
  private again = false;
  /** Events this replica's messages carried that may not be sent yet, in seq order, no seq twice. */
  private carried: JobEvent[] = [];
  /** News heard without its events since the last read began: the next pump reads the log. */
  private blind = false;
  private heartbeat: NodeJS.Timeout | undefined;
  private unwatch: (() => void) | undefined;
  private batch: NodeJS.Timeout | undefined;

  constructor(
    private readonly ctx: ApiContext,
    private readonly request: FastifyRequest,
    private readonly reply: FastifyReply,
    private readonly jobId: string,
    private sentSeq: number,
    private readonly release: () => void,
    private readonly unsubscribe: () => void,
  ) {}

  /** The seq of the last event written (or the one the client resumed after). */
  get sent(): number {
    return this.sentSeq;
  }

  /** The safety poll found events past `sent` (or the job row gone): pump what the log holds. */
  polled(): void {
    this.blind = true;
    this.wake();
  }

  /** A bus message for this stream (see `concerns`). */
  hear(m: BusMessage): void {
    this.note(m);
    this.wake(m.kind === 'job_event' && m.ended === false);
  }

  /** Keeps what `m` tells: its events, or that something happened that only the log holds. */
  private note(m: BusMessage): void {
    if (m.kind !== 'job_event' || m.events === undefined) {
      this.blind = true;
      return;
    }
    for (const e of m.events) {
      if (e.seq <= this.sentSeq) continue;
      const at = this.carried.findLastIndex((c) => c.seq < e.seq);
      if (this.carried[at + 1]?.seq !== e.seq) this.carried.splice(at + 1, 0, e);
    }
  }

  /**
   * Sends the head with `text` (what the log held) and starts listening; `ended`: the stream ends there.
   * `heard`: the messages for this job that arrived while the stream was being opened.
   */
  start(text: string, ended: boolean, heard: readonly BusMessage[]): void {
    openStream(this.ctx, this.request, this.reply, text, ended);
    const raw = this.reply.raw;
    this.heartbeat = setInterval(() => raw.write(': keep-alive\n\n'), HEARTBEAT_MS);
    this.unwatch = this.ctx.eventPoll.watch(this.jobId, this);
    raw.on('close', () => this.finish());
    this.ctx.streams.add(this.finish);
    // A client that left while the stream was being opened closed it before the listener above existed; a
    // drain that ran meanwhile ended the streams it found, not this one (the client resumes elsewhere).
    if (ended || raw.destroyed || this.ctx.isDraining()) return this.finish();
    for (const m of heard) this.note(m);
    if (heard.length > 0) this.wake();
  }

  /**
   * Something new for this job (or a resync): pump, or pump once more after the pump in progress. `later`: the
   * news is a non-final event, pumped within EVENT_BATCH_MS (an earlier wake-up that is not `later` pumps it
   * with the rest).
   */
  wake(later = false): void {
    if (this.closed) return;
    if (later) {
      this.batch ??= setTimeout(() => this.wake(), EVENT_BATCH_MS);
      return;
    }
    clearTimeout(this.batch);
    this.batch = undefined;
    if (this.pumping !== null) {
      this.again = true;
      return;
    }
    this.pumping = this.pump().catch((err: unknown) => {
      this.request.log.warn({ err }, 'sse pump failed');
      this.finish();
    });
  }

  /**
   * Writes every new event in one write; the stream ends with `done` (in the same write). The pump marks
   * itself finished in the same step as its last check of `again`: a wake-up heard after that check starts a
   * new pump (one marked later, from a `.finally`, was lost to the safety poll).
   */
  private async pump(): Promise<void> {
    try {
      do {
        this.again = false;
        const events = this.takeCarried() ?? (await this.read());
        if (this.closed) return;
        let batch = '';
        for (const e of events) {
          batch += eventText(e);
          this.sentSeq = e.seq;
          if (e.type === 'done') {
            this.finish(batch);
            traceJob(e.jobId, 'SSE done written');
            return;
          }
        }
        if (batch !== '') this.reply.raw.write(batch);
      } while (this.again && !this.closed);
    } finally {
      this.pumping = null;
    }
  }

  /**
   * The carried events past `sent` when they are all there is to send (nothing blind heard, first seq `sent` + 1,
   * no gap), taken; else null (the pump reads the log).
   */
  private takeCarried(): JobEvent[] | null {
    const sent = this.sentSeq;
    const fresh = this.carried.findIndex((e) => e.seq > sent);
    this.carried = fresh < 0 ? [] : this.carried.slice(fresh);
    if (this.blind) return null;
    if (!this.carried.every((e, i) => e.seq === sent + 1 + i)) return null;
    const events = this.carried;
    this.carried = [];
    return events;
  }

  /** The log after `sent`; news heard from here on is news after this read. */
  private async read(): Promise<JobEvent[]> {
    this.blind = false;
    return await this.ctx.store.listJobEvents(this.jobId, this.sentSeq);
  }

  readonly finish = (last = ''): void => {
    if (this.closed) return;
    this.closed = true;
    this.release();
    this.ctx.streams.delete(this.finish);
    this.unsubscribe();
    clearInterval(this.heartbeat);
    this.unwatch?.();
    clearTimeout(this.batch);
    if (!this.reply.raw.writableEnded) this.reply.raw.end(last);
  };
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
        querystring: z.strictObject({
          after: z.coerce.number().int().min(0).max(999_999_999_999).optional(),
        }),
      },
    },
    async (request, reply) => {
      const p = principalOf(request);
      requireScope(p, 'jobs:read');
      const jobId = request.params.id;
      const status = await ownJobStatus(ctx, p.account.id, p.userId, jobId);
      const resumed = lastEventId(request.headers['last-event-id'], request.query.after);

      // Listening starts before the first read: an event committed meanwhile is pumped once the stream is open.
      let stream: JobEventStream | null = null;
      const heard: BusMessage[] = [];
      const unsubscribe = ctx.bus.subscribe((m) => {
        if (!concerns(m, jobId)) return;
        if (stream === null) heard.push(m);
        else stream.hear(m);
      });
      // Read before the stream takes its slot: a store error here must not leave the user's slot taken. A
      // fresh stream fails with it; a resumed one opens and ends (the client resumes with Last-Event-ID).
      let first: JobEvent[] | null;
      let release: () => void;
      try {
        first = await ctx.store.listJobEvents(jobId, resumed).catch((err: unknown) => {
          if (resumed === 0) throw err;
          request.log.warn({ err }, 'sse read failed');
          return null;
        });
        release = admitStream(ctx, p.account.id, p.userId);
      } catch (err) {
        unsubscribe();
        throw err;
      }

      // The head, and what the log holds now, in one write. A client watching a job nothing has happened to
      // yet sees its state at once (no id: a snapshot, not a log entry). Any other fresh stream replays the
      // log, which ends at the state now: a snapshot before it would put the end (`completed`) before the
      // history (`running`, outputs).
      let text = ': arrakis job events\nretry: 2000\n\n';
      if (resumed === 0 && first?.length === 0) {
        text += `event: status\ndata: ${JSON.stringify({ status, snapshot: true })}\n\n`;
      }
      const events = first ?? [];
      for (const e of events) text += eventText(e);
      const done = events.at(-1)?.type === 'done';
      // A client resuming after `done` of a finished job gets an empty stream that ends, not one that idles.
      const pastEnd = resumed > 0 && first?.length === 0 && TERMINAL_STATUSES.includes(status);
      const opened = new JobEventStream(
        ctx,
        request,
        reply,
        jobId,
        events.at(-1)?.seq ?? resumed,
        release,
        unsubscribe,
      );
      stream = opened;
      opened.start(text, first === null || done || pastEnd, heard);
      if (done) traceJob(jobId, 'SSE done written');
    },
  );
}

/** CORS headers for a hijacked response (the CORS plugin cannot add them after hijack). */
function corsHeaders(origin: string | undefined, ctx: ApiContext): Record<string, string> {
  if (origin === undefined || !ctx.config.corsOrigins.includes(origin)) return {};
  return { 'access-control-allow-origin': origin, vary: 'Origin' };
}
