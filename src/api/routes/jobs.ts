/** Job endpoints for end users: submit, read, list, cancel, download outputs, usage. */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ApiError } from '../../errors.js';
import { toPublicJob, type JobView } from '../../jobs/public-job.js';
import { publicJobJson } from '../../jobs/public-job-json.js';
import { TERMINAL_STATUSES, type JobStatus } from '../../jobs/types.js';
import { requireScope } from '../auth/authenticate.js';
import { principalOf, type ApiContext } from '../context.js';
import {
  createJobBody,
  jobIdParams,
  jobListSchema,
  jobSchema,
  listJobsQuery,
  problemSchema,
  usageSchema,
} from '../schemas.js';
import { jobHeaders, submitHeaders } from '../headers.js';
import { parseMultipartSubmission, registerMultipart } from '../multipart-submit.js';
import { inlineAnswer, inlineOutputData, prefersInlineOutputs } from '../inline-outputs.js';
import { preferredWait, publicOrigin, waitForJobEnd, waitSignal } from '../prefer-wait.js';
import { chargeSubmitRate } from '../rate-limit.js';
import { checkMaySubmit, checkSubmittedSize, submitJob, type TokenSettlement } from '../submit-job.js';
import { requestOrigin } from '../request-log.js';

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;
/** What Fastify sends with a serialised object; a body already in JSON text goes out with the same type. */
const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * Sends a job's JSON text (publicJobJson: the same text the schema's type would serialise to). Fastify sends a
 * string typed application/json as it is, without the serializer.
 */
function sendJobJson(reply: FastifyReply, json: string): FastifyReply {
  return reply.type(JSON_TYPE).send(json);
}
const errors = { 400: problemSchema, 401: problemSchema, 403: problemSchema, 404: problemSchema };

function notFound(): ApiError {
  return new ApiError('not_found', 'No job with this id.');
}

/**
 * The public columns of the caller's own job (no workflow or inputs parsed), or 404 like an unknown id: from
 * this replica's memory of its recent completions when it holds the job, else read.
 */
export async function ownJobView(
  ctx: ApiContext,
  accountId: string,
  userId: string,
  id: string,
): Promise<JobView> {
  const job =
    ctx.recentCompletions?.viewFor(accountId, userId, id) ??
    (await ctx.store.getJobViewFor(accountId, userId, id));
  if (job === null) throw notFound();
  return job;
}

/** The status of the caller's own job (one column), or 404 like an unknown id. */
export async function ownJobStatus(
  ctx: ApiContext,
  accountId: string,
  userId: string,
  id: string,
): Promise<JobStatus> {
  const status = await ctx.store.jobStatusFor(accountId, userId, id);
  if (status === null) throw notFound();
  return status;
}

function idempotencyKey(header: unknown): string | null {
  if (header === undefined) return null;
  if (typeof header !== 'string' || !IDEMPOTENCY_KEY.test(header)) {
    throw new ApiError('validation_failed', 'Idempotency-Key must be 1–255 visible ASCII characters.', {
      errors: [{ path: 'headers.idempotency-key', message: '1–255 visible ASCII characters' }],
    });
  }
  return header;
}

/** What every end-user route's schema says of it in /openapi.json: its tag and its credential. */
export const jobDoc = { tags: ['jobs'], security: [{ bearer: [] }] };

/** Registers the job routes; every one of them runs behind the job scope's auth. */
export async function jobRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  // The multipart parser lives only around the submit route: the plugin adds an onResponse hook (a promise)
  // to every request of the context it is registered in.
  await app.register(async (submit) => {
    await registerMultipart(submit, Math.floor(ctx.config.maxBodyMb * 1024 * 1024));
    submitRoute(submit, ctx);
  });
  readRoutes(app, ctx);
  cancelRoute(app, ctx);
  outputRoute(app, ctx);
  usageRoute(app, ctx);
}

/** A pre-validation step whose refusals are counted as admission rejections by code. */
function counted(
  ctx: ApiContext,
  step: (request: FastifyRequest) => Promise<void>,
): (request: FastifyRequest) => Promise<void> {
  return async (request) => {
    try {
      await step(request);
    } catch (err) {
      if (err instanceof ApiError) ctx.metrics.admissionRejections.inc({ code: err.code });
      throw err;
    }
  };
}

/**
 * A submission refused after the gate (body, workflow, quota) costs its token, as a gate that took it did;
 * charged before the answer is sent, so the client's next request already sees it. A 503 (the database did not
 * answer) costs nothing: it is no verdict on the request, whose client retries it with the same Idempotency-Key
 * (and if the admission committed all the same, its commit took the token).
 */
function chargeRefused(ctx: ApiContext, tokens: WeakMap<object, TokenSettlement>) {
  return async (request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> => {
    const token = tokens.get(request);
    const refused = reply.statusCode >= 400 && reply.statusCode !== 503;
    if (token !== undefined && !token.settled && refused) {
      token.settled = true;
      const p = principalOf(request);
      await chargeSubmitRate(ctx.store, p.account, p.userId, ctx.now()).catch(() => undefined);
    }
    return payload;
  };
}

/** POST /v1/jobs: JSON or multipart submission, with Idempotency-Key and Prefer: wait. */
function submitRoute(app: FastifyInstance, ctx: ApiContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  /** Submissions past the rate gate, and whether their token is settled (see rate-limit.ts). */
  const tokens = new WeakMap<object, TokenSettlement>();
  r.post(
    '/v1/jobs',
    {
      preValidation: [
        counted(ctx, async (request) => {
          await checkMaySubmit(ctx, principalOf(request));
          tokens.set(request, { settled: false });
        }),
        parseMultipartSubmission(Math.floor(ctx.config.maxBodyMb * 1024 * 1024)),
        counted(ctx, async (request) => checkSubmittedSize(ctx, request.body)),
      ],
      onSend: chargeRefused(ctx, tokens),
      schema: {
        ...jobDoc,
        summary: 'Submit a job',
        description:
          'JSON body, or multipart/form-data with the same JSON in a "request" field and one file part per input (the part name is the input name).',
        headers: submitHeaders,
        body: createJobBody,
        response: {
          200: jobSchema,
          202: jobSchema,
          409: problemSchema,
          413: problemSchema,
          422: problemSchema,
          429: problemSchema,
          ...errors,
        },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const key = idempotencyKey(request.headers['idempotency-key']);
      try {
        const { job, replayed } = await submitJob(
          ctx,
          principal,
          request.body,
          key,
          request.uploads ?? new Map(),
          tokens.get(request),
          requestOrigin(request),
        );
        if (!replayed) ctx.metrics.jobsSubmitted.inc();
        if (replayed) void reply.header('idempotent-replayed', 'true');
        void reply.header('location', `/v1/jobs/${job.id}`);
        // An idle in-process worker claims the job on the admission's wake-up: its prompt goes to ComfyUI
        // before this answer is built (the answer leaves no later: the reply's own hooks take that long).
        await new Promise<void>((resolve) => setImmediate(resolve));
        const wait = preferredWait(request.headers.prefer);
        if (wait === null) return sendJobJson(reply.code(202), publicJobJson(job));
        const inline = prefersInlineOutputs(request.headers.prefer);
        const { signal, release } = waitSignal(ctx, request);
        // The job is admitted whatever happens now: a failed re-read answers 202 with it (a 500 would tell the
        // client to submit again).
        const ended = await waitForJobEnd(ctx, job, job, wait, signal)
          .catch((err: unknown) => {
            request.log.warn({ err, jobId: job.id }, 'Prefer: wait could not re-read the job; answering 202');
            return job;
          })
          .finally(release);
        void reply.header('preference-applied', `wait=${wait}`).header('vary', 'Prefer');
        if (!TERMINAL_STATUSES.includes(ended.status))
          return sendJobJson(reply.code(202), publicJobJson(ended));
        const origin = publicOrigin(ctx, request);
        // The bytes go only to a caller that may download them (the job's owner with `jobs:read`).
        if (!inline || ended.outputs.length === 0 || !principal.scopes.has('jobs:read'))
          return sendJobJson(reply.code(200), publicJobJson(ended, origin));
        return await sendWithInlineOutputs(ctx, request, reply, ended, origin, wait);
      } catch (err) {
        if (err instanceof ApiError) ctx.metrics.admissionRejections.inc({ code: err.code });
        throw err;
      }
    },
  );
}

/**
 * A `Prefer: wait` answer carrying the outputs' bytes (inline-outputs.ts), read until the client leaves or the
 * server drains at the latest; what they hold of the process's budget is given back once the answer is sent
 * (or the client is gone).
 */
async function sendWithInlineOutputs(
  ctx: ApiContext,
  request: FastifyRequest,
  reply: FastifyReply,
  ended: JobView,
  origin: string,
  wait: number,
): Promise<FastifyReply> {
  const reading = waitSignal(ctx, request);
  const inlined = await inlineOutputData(ctx.storage, ended, request.log, { signal: reading.signal }).finally(
    reading.release,
  );
  if (request.raw.socket.destroyed) inlined.release();
  else reply.raw.once('close', inlined.release);
  if (inlined.data.size === 0) return sendJobJson(reply.code(200), publicJobJson(ended, origin));
  void reply.header('preference-applied', `wait=${wait}, outputs=inline`);
  return reply
    .code(200)
    .type(JSON_TYPE)
    .send(inlineAnswer(ended, origin, inlined.data));
}

/** GET /v1/jobs/{id} and GET /v1/jobs: the caller's own jobs. */
function readRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.get(
    '/v1/jobs/:id',
    {
      schema: {
        ...jobDoc,
        summary: 'Get a job',
        headers: jobHeaders,
        params: jobIdParams,
        response: { 200: jobSchema, ...errors },
      },
    },
    async (request, reply) => {
      const p = principalOf(request);
      requireScope(p, 'jobs:read');
      const view = await ownJobView(ctx, p.account.id, p.userId, request.params.id);
      return sendJobJson(reply, publicJobJson(view));
    },
  );

  r.get(
    '/v1/jobs',
    {
      schema: {
        ...jobDoc,
        summary: "List the acting user's jobs, newest first",
        headers: jobHeaders,
        querystring: listJobsQuery,
        response: {
          200: jobListSchema,
          ...errors,
        },
      },
    },
    async (request) => {
      const p = principalOf(request);
      requireScope(p, 'jobs:read');
      const page = await ctx.store.listJobs({
        accountId: p.account.id,
        userId: p.userId,
        status: request.query.status,
        limit: request.query.limit,
        cursor: request.query.cursor,
      });
      return { data: page.jobs.map(toPublicJob), next_cursor: page.nextCursor };
    },
  );
}

/** DELETE /v1/jobs/{id}: cancel. */
function cancelRoute(app: FastifyInstance, ctx: ApiContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.delete(
    '/v1/jobs/:id',
    {
      schema: {
        ...jobDoc,
        summary: 'Cancel a job',
        description:
          '200 when a queued job is now cancelled; 202 when a running job will end cancelled; 409 when it had ended.',
        headers: jobHeaders,
        params: jobIdParams,
        response: { 200: jobSchema, 202: jobSchema, 409: problemSchema, ...errors },
      },
    },
    async (request, reply) => {
      const p = principalOf(request);
      requireScope(p, 'jobs:write');
      const result = await ctx.lifecycle.cancel(p.account.id, p.userId, request.params.id);
      switch (result.kind) {
        case 'not_found':
          throw notFound();
        case 'already_ended':
          throw new ApiError('job_finished', `The job already ended ${result.job.status}.`, {
            job_status: result.job.status,
          });
        case 'cancelled':
          return reply.code(200).send(toPublicJob(result.job));
        case 'cancel_requested':
          return reply.code(202).send(toPublicJob(result.job));
      }
    },
  );
}

/** GET /v1/jobs/{id}/outputs/{index}: the bytes, or a 302 to a presigned URL. */
function outputRoute(app: FastifyInstance, ctx: ApiContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.get(
    '/v1/jobs/:id/outputs/:index',
    {
      schema: {
        ...jobDoc,
        summary: 'Download an output (302 to a presigned URL on S3 storage)',
        headers: jobHeaders,
        params: z.object({ id: z.string().min(1).max(64), index: z.coerce.number().int().min(0).max(10000) }),
      },
    },
    async (request, reply) => {
      const p = principalOf(request);
      requireScope(p, 'jobs:read');
      // A job this replica just completed is remembered (for its owner only); else only the outputs column.
      const { id } = request.params;
      const outputs =
        ctx.recentCompletions?.outputsFor(p.account.id, p.userId, id) ??
        (await ctx.store.jobOutputsFor(p.account.id, p.userId, id));
      if (outputs === null) throw notFound();
      const output = outputs.find((o) => o.index === request.params.index);
      if (output === undefined) throw new ApiError('not_found', 'No output with this index.');
      const url = await ctx.storage.presignedGetUrl(output.objectKey, ctx.config.presignTtlSeconds);
      if (url !== null) return reply.redirect(url, 302);
      const object = await ctx.storage.get(output.objectKey, output);
      if (object === null) throw new ApiError('not_found', 'The output was deleted by the retention policy.');
      const safeName = output.filename.replace(/[^A-Za-z0-9._-]/g, '_');
      // Media types are case-insensitive (a remote worker reports the type): image/SVG+XML is SVG too.
      const mediaType = output.contentType.toLowerCase();
      const inline = /^(image|video|audio)\//.test(mediaType) && mediaType !== 'image/svg+xml';
      return (
        reply
          .header('content-type', output.contentType)
          .header('content-length', String(object.size))
          // Only media is shown inline: anything else (HTML, SVG-like text) downloads, never renders on our origin.
          .header('content-disposition', `${inline ? 'inline' : 'attachment'}; filename="${safeName}"`)
          .header('x-content-type-options', 'nosniff')
          // A small object the storage already holds goes out as one buffer, without a stream's machinery.
          .send(object.bytes ?? object.body)
      );
    },
  );
}

/** GET /v1/usage: the caller's usage today. */
function usageRoute(app: FastifyInstance, ctx: ApiContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.get(
    '/v1/usage',
    {
      schema: {
        ...jobDoc,
        summary: "The acting user's usage today (UTC)",
        headers: jobHeaders,
        response: {
          200: usageSchema,
          ...errors,
        },
      },
    },
    async (request) => {
      const p = principalOf(request);
      requireScope(p, 'jobs:read');
      const now = new Date(ctx.now());
      const dayStart = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
      const usage = await ctx.store.usage(p.account.id, p.userId, dayStart);
      return {
        user_id: p.userId,
        active_jobs: usage.activeJobs,
        limits: { ...p.account.limits },
        jobs_today: usage.jobsToday,
        run_seconds_today: usage.runSecondsToday,
      };
    },
  );
}
