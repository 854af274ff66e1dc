/**
 * The worker API, mounted at `/v1/worker`: how a remote `arrakis agent` that can only connect out registers,
 * claims jobs (long-poll), renews leases, hears cancels (long-poll), moves bytes and reports outcomes.
 * Every job endpoint acts only on a job leased to the calling worker. Requests are validated by the route
 * schemas (the shapes of workers/worker-protocol.ts); auth comes from the worker scope. The worker API is an
 * internal protocol: /openapi.json leaves it out (openapi/polish.ts).
 */
import { performance } from 'node:perf_hooks';
import { detectContentType } from '../../media/output-content-type.js';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply } from 'fastify';
import { validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ForeignOutputError, WorkerService, type WorkerServiceDeps } from '../../workers/worker-service.js';
import {
  LeaseLostError,
  OutputStoreError,
  type LeasedJob,
  type OutputFile,
} from '../../workers/job-channel.js';
import { MAX_OUTPUT_SEQ } from '../../workers/output-key.js';
import * as wire from '../../workers/worker-protocol.js';
import { ApiError } from '../../errors.js';
import type { EventBus } from '../../events/bus.js';
import type { NodeTypeRegistry } from '../../jobs/node-type-registry.js';
import type { ObjectStorage } from '../../media/storage/contract.js';
import type { Store } from '../../store/contract.js';
import { newId } from '../../util/ids.js';
import { installProblemHandlers } from '../problem.js';
import {
  workerOf,
  workerScope,
  workerTokenOf,
  type WorkerCredentials,
  type WorkerRouteFile,
} from '../scopes/worker-scope.js';
import { verifyWorkerToken } from '../../workers/worker-tokens.js';

export { issueWorkerToken } from '../../workers/worker-tokens.js';

/** The job hooks (log, metrics) see remote workers' claims and reports too. */
export interface WorkerRoutesDeps extends Pick<
  WorkerServiceDeps,
  'onClaimed' | 'onRequeued' | 'onFinished' | 'log' | 'idleClaimers'
> {
  store: Store;
  storage: ObjectStorage;
  bus: EventBus;
  leaseMs: number;
  maxAttempts: number;
  /** Largest output file a worker may upload (default 512 MiB). */
  maxOutputBytes?: number;
  /** Where remote workers' node definitions go (UI-format conversion and node-type checks). */
  nodeTypes?: NodeTypeRegistry;
  /** How long bounded affinity may pass over the fair pick (ms); 0 or absent = plain fair order. */
  affinityMaxDelayMs?: number;
  /** Called with the model loads a worker reported (metrics). */
  onModelLoads?: (loads: ReadonlyArray<{ tier: 'disk' | 'fetch'; seconds: number }>) => void;
  /** How long after its arrival a `lost_claim` claim may still give jobs back (default LOST_CLAIM_GRACE_MS). */
  lostClaimGraceMs?: number;
}

/**
 * For a worker that names no claims (an agent of an earlier release; one whose names another replica refused):
 * a `lost_claim` claim gives back the worker's jobs only when it is handled within this long of its arrival and
 * its agent still waits for it, and then only leases that began before it arrived (the store's compare-and-set:
 * a later claim's lease of the same worker stays, however long the give-back itself is held up). An agent's
 * claim call gives up 15 s after its wait, and its claims are one at a time: within the grace the agent is still
 * waiting for this very call. A claim handled later (held up in a stalled database's credential check, say) may
 * be one the agent gave up on: it gives nothing back, and a lost answer's job waits for its lease. A claim that
 * lists its lost claims by id (`lost_claims`) needs none of this: it gives back exactly their leases.
 */
export const LOST_CLAIM_GRACE_MS = 5_000;

/** When a claim arrived: this process's monotonic clock (its grace) and the wall clock (the leases it may end). */
interface ClaimArrival {
  at: number;
  wallMs: number;
}

const jobParams = z.object({ jobId: z.string().regex(/^[A-Za-z0-9_-]{1,128}$/) });
const inputParams = jobParams.extend({ name: z.string().min(1).max(256) });
/**
 * A path number in canonical decimal only: `z.coerce` would read an empty segment (`…/output-files/`) or `%20`
 * as 0, and `1e1`/`0x0`/`00` as other numbers, so a buggy agent's upload would land on (and overwrite) another file.
 */
function pathNumber(max: number) {
  return z
    .string()
    .regex(/^(?:0|[1-9]\d{0,8})$/, 'must be a decimal number without leading zeros')
    .transform(Number)
    .pipe(z.number().int().min(0).max(max));
}
const outputParams = jobParams.extend({ index: pathNumber(9999) });
const outputFileParams = jobParams.extend({ seq: pathNumber(MAX_OUTPUT_SEQ) });

/** A body the agent may leave out entirely reads as `{}` (its defaults apply). */
function orEmpty<T extends z.ZodType>(schema: T): z.ZodPreprocess<T, unknown> {
  return z.preprocess((value) => value ?? {}, schema);
}

/** The worker scope's credential checks: worker tokens and the worker id header of the worker protocol. */
export function credentials(store: Store): WorkerCredentials {
  return {
    store,
    verifyToken: (presented) => verifyWorkerToken(store, presented),
    workerIdHeader: wire.WORKER_ID_HEADER,
  };
}

/** An AbortSignal that fires when the client goes away or the server is closing (ends long-polls early). */
function pollSignal(reply: FastifyReply, closing: AbortSignal): AbortSignal {
  const gone = new AbortController();
  reply.raw.once('close', () => gone.abort());
  return AbortSignal.any([gone.signal, closing]);
}

/**
 * The worker API as a Fastify plugin (mount it with `{ prefix: '/v1/worker' }`). `extra` adds route files
 * to the registered-worker part of the scope.
 */
export function workerRoutes(
  deps: WorkerRoutesDeps,
  extra: readonly WorkerRouteFile[] = [],
): FastifyPluginAsync {
  return async (app) => {
    const service = new WorkerService(deps);
    const closing = new AbortController();
    // Without this, open long-polls would hold `app.close()` for up to 25 s; and their connections,
    // busy when the server began closing, must not then stay open as keep-alive.
    app.addHook('preClose', async () => closing.abort());
    app.addHook('onSend', async (_request, reply) => {
      if (closing.signal.aborted) void reply.header('connection', 'close');
    });
    // Mountable on a bare Fastify too (the agent tests do): zod schemas and problem+json come with it. The
    // not-found handler sits outside the scope, so an unknown /v1/worker path answers 404, not 401.
    app.setValidatorCompiler(validatorCompiler);
    installProblemHandlers(app);
    // When each claim arrived, before its credentials were checked: a `lost_claim`'s grace counts from it.
    const claimArrivals = new WeakMap<object, ClaimArrival>();
    app.addHook('onRequest', (request, _reply, done) => {
      if (request.method === 'POST' && request.url.endsWith('/claim')) {
        claimArrivals.set(request, { at: performance.now(), wallMs: Date.now() });
      }
      done();
    });
    const maxOutputBytes = deps.maxOutputBytes ?? wire.MAX_OUTPUT_BYTES;
    await app.register(
      workerScope(credentials(deps.store), {
        token: [(s) => registerRoute(s, deps, service)],
        worker: [
          (s) => workerStateRoutes(s, deps, service, closing.signal, claimArrivals),
          (s) => leaseRoutes(s, service, closing.signal),
          (s) => reportRoutes(s, service),
          (s) => leftoverRoute(s, service),
          (s) => nodeDefinitionRoute(s, deps.nodeTypes),
          (s) => modelRoutes(s, service),
          (s) => s.register(outputUploadRoutes(service, maxOutputBytes)),
          ...extra,
        ],
      }),
    );
  };
}

/** POST /register: a token holder becomes a worker of the token's pool. */
function registerRoute(app: FastifyInstance, deps: WorkerRoutesDeps, service: WorkerService): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.post('/register', { schema: { body: orEmpty(wire.registerBody) } }, async (request, reply) => {
    const token = workerTokenOf(request);
    const body = request.body;
    if (body.pool !== undefined && body.pool !== token.pool) {
      throw new ApiError('insufficient_scope', `This token serves pool "${token.pool}" only.`);
    }
    const id = newId('wrk');
    await service.register({
      id,
      name: body.name,
      pool: token.pool,
      kind: 'remote',
      comfyUrl: body.comfy_url ?? null,
      status: 'starting',
      // Binds the worker to the token that registered it: no other token may act as this worker.
      providerRef: token.id,
    });
    return reply.code(201).send({ worker_id: id, pool: token.pool, lease_ms: deps.leaseMs });
  });
}

/** PUT /node-definitions: the nodes of the worker's ComfyUI, kept for this replica's submissions. */
function nodeDefinitionRoute(app: FastifyInstance, registry: NodeTypeRegistry | undefined): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.put(
    '/node-definitions',
    { bodyLimit: 64 * 1024 * 1024, schema: { body: orEmpty(wire.nodeDefinitionsBody) } },
    async (request, reply) => {
      const byName = new Map(wire.nodeDefinitionsFromWire(request.body).map((d) => [d.name, d]));
      registry?.set(workerOf(request).id, new Set(byName.keys()), { definitions: byName });
      return reply.code(204).send();
    },
  );
}

/** Status and the claim long-poll. */
function workerStateRoutes(
  app: FastifyInstance,
  deps: WorkerRoutesDeps,
  service: WorkerService,
  closing: AbortSignal,
  claimArrivals: WeakMap<object, ClaimArrival>,
): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.post('/status', { schema: { body: orEmpty(wire.statusBody) } }, async (request) => {
    const worker = workerOf(request);
    const { status } = request.body;
    await service.setStatus(worker.id, status);
    if (status === 'stopped') deps.nodeTypes?.remove(worker.id);
    return { status };
  });

  r.post('/claim', { schema: { body: orEmpty(wire.claimBody) } }, async (request, reply) => {
    const worker = workerOf(request);
    // The worker's last claims failed on their way back: a job one of them leased is one it never heard of.
    const { lost_claims: lostClaims, claim_id: claimId } = request.body;
    const arrived = claimArrivals.get(request);
    const graceMs = deps.lostClaimGraceMs ?? LOST_CLAIM_GRACE_MS;
    if (lostClaims !== undefined) {
      // Named claims: exactly their leases, however late this claim is handled.
      await service.releaseLostClaims(worker.id, lostClaims);
    } else if (
      request.body.lost_claim &&
      arrived !== undefined &&
      !reply.raw.destroyed &&
      performance.now() - arrived.at < graceMs
    ) {
      await service.releaseUnreceived(worker.id, arrived.wallMs);
    }
    const claimed = await service.claim(
      worker.id,
      worker.pool,
      request.body.wait_ms,
      pollSignal(reply, closing),
      claimId,
    );
    if (claimed === null) return { job: null };
    const { job, fileNodeAllowlist } = claimed;
    if (reply.raw.destroyed) {
      // The worker hung up while the claim ran: it will never hear of this job, so give it straight back.
      await service.releaseUndelivered(job, worker.id);
      return reply;
    }
    const leased: LeasedJob = {
      id: job.id,
      workflow: job.workflow,
      inputs: job.inputs,
      attempt: job.attempts,
      leaseMs: deps.leaseMs,
      fileNodeAllowlist,
      models: job.models,
    };
    return { job: wire.leasedJobToWire(leased) };
  });
}

/** Heartbeat, cancel long-poll, progress and input download: all scoped to the caller's lease. */
function leaseRoutes(app: FastifyInstance, service: WorkerService, closing: AbortSignal): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.post('/jobs/:jobId/heartbeat', { schema: { params: jobParams } }, async (request) => ({
    lease: await service.heartbeat(request.params.jobId, workerOf(request).id),
  }));

  r.get(
    '/jobs/:jobId/cancel',
    { schema: { params: jobParams, querystring: wire.cancelQuery } },
    async (request, reply) => {
      const signal = pollSignal(reply, closing);
      const lease = await service.waitForCancel(
        request.params.jobId,
        workerOf(request).id,
        request.query.wait_ms,
        signal,
      );
      return { lease };
    },
  );

  r.post(
    '/jobs/:jobId/progress',
    { schema: { params: jobParams, body: orEmpty(wire.progressBody) } },
    async (request) => ({
      held: await service.progress(request.params.jobId, workerOf(request).id, request.body),
    }),
  );

  r.get('/jobs/:jobId/inputs/:name', { schema: { params: inputParams } }, async (request, reply) => {
    const { jobId, name } = request.params;
    const found = await service.openInput(jobId, workerOf(request).id, name).catch(leaseConflict);
    if (found === null) throw new ApiError('not_found', `Job ${jobId} has no stored input named "${name}".`);
    return reply.header('content-length', found.size).type('application/octet-stream').send(found.body);
  });
}

/** Terminal reports: complete, fail, finish-cancel, release. `lost` answers mean another worker may own the job. */
function reportRoutes(app: FastifyInstance, service: WorkerService): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.post(
    '/jobs/:jobId/complete',
    { schema: { params: jobParams, body: orEmpty(wire.completeBody) } },
    async (request) => {
      try {
        const { progress } = request.body;
        const outputs = request.body.outputs.map(wire.outputFromWire);
        return await service.complete(request.params.jobId, workerOf(request).id, outputs, progress);
      } catch (err) {
        if (err instanceof ForeignOutputError) throw new ApiError('validation_failed', err.message);
        throw err;
      }
    },
  );

  r.post(
    '/jobs/:jobId/fail',
    { schema: { params: jobParams, body: orEmpty(wire.failBody) } },
    async (request) => {
      const { error } = request.body;
      return await service.fail(request.params.jobId, workerOf(request).id, wire.jobErrorFromWire(error));
    },
  );

  r.post('/jobs/:jobId/finish-cancel', { schema: { params: jobParams } }, async (request) =>
    service.finishCancel(request.params.jobId, workerOf(request).id),
  );

  r.post(
    '/jobs/:jobId/release',
    { schema: { params: jobParams, body: orEmpty(wire.releaseBody) } },
    async (request) =>
      service.release(
        request.params.jobId,
        workerOf(request).id,
        request.body.reason,
        request.body.voluntary,
      ),
  );
}

/**
 * A job prompt the agent found in its ComfyUI's queue when it gained its ComfyUI, running no job itself: its job
 * goes back to the queue if that attempt still runs under this worker or under an earlier process of the same
 * slot (kind, pool, name, ComfyUI URL) that stopped renewing the lease; the answer tells the agent what to do with
 * the prompt (WorkerService.releaseLeftover).
 */
function leftoverRoute(app: FastifyInstance, service: WorkerService): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.post(
    '/jobs/:jobId/leftover',
    { schema: { params: jobParams, body: wire.leftoverBody } },
    async (request) => {
      const { jobId } = request.params;
      return wire.leftoverToWire(
        await service.releaseLeftover(workerOf(request).id, jobId, request.body.attempt),
      );
    },
  );
}

/** The worker's model report, and the registry entry of a file its model cache is to fetch. */
function modelRoutes(app: FastifyInstance, service: WorkerService): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.post('/models', { schema: { body: orEmpty(wire.modelsBody) } }, async (request) => {
    const body = request.body;
    const prefetch = await service.reportModels(workerOf(request).id, {
      available: body.available,
      warm: body.warm,
      onDisk: body.on_disk,
      canFetch: body.can_fetch,
      switches: body.model_switches,
      loads: body.loads,
      prefetchFailed: body.prefetch_failed,
    });
    return { prefetch };
  });

  r.get('/models/:name', { schema: { params: wire.modelFileParams } }, async (request) => {
    const { name } = request.params;
    const file = await service.modelFile(name);
    if (file === null) throw new ApiError('not_found', `No registered model file named "${name}".`);
    return { name: file.name, kind: file.kind, url: file.url, sha256: file.sha256, size: file.size };
  });
}

/**
 * Output upload takes the raw file as the body, so it lives in its own context with a bytes-only parser.
 * The scope authenticated the worker before a single body byte was read: an anonymous client cannot make the
 * server buffer an upload.
 * `PUT /jobs/{id}/output-files/{seq}` stores a file while the job runs (nothing is announced: complete names
 * the stored files and their order). `PUT /jobs/{id}/outputs/{index}` is the previous release's upload, kept
 * for its agents for one release: it stores under the index-based key and, now, announces nothing either.
 */
function outputUploadRoutes(service: WorkerService, maxBytes: number): FastifyPluginAsync {
  return async (app) => {
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: maxBytes }, (_request, body, done) => {
      done(null, body);
    });
    const r = app.withTypeProvider<ZodTypeProvider>();
    r.put(
      '/jobs/:jobId/output-files/:seq',
      { schema: { params: outputFileParams, querystring: wire.outputQuery } },
      async (request) => {
        const { jobId, seq } = request.params;
        const file = uploadedFile(seq, request.query, request.body);
        const stored = await service
          .storeOutput(jobId, workerOf(request).id, file, { after: 'background' })
          .catch(uploadError);
        return wire.storedOutputToWire(stored);
      },
    );
    r.put(
      '/jobs/:jobId/outputs/:index',
      { schema: { params: outputParams, querystring: wire.outputQuery } },
      async (request) => {
        const { jobId, index } = request.params;
        const file = uploadedFile(index, request.query, request.body);
        const worker = workerOf(request).id;
        const output = await service.storeIndexedOutput(jobId, worker, index, file).catch(uploadError);
        return wire.outputToWire(output);
      },
    );
  };
}

/** The upload as an output file; the type users are served comes from the bytes, not from what a worker declares. */
function uploadedFile(seq: number, query: z.infer<typeof wire.outputQuery>, body: unknown): OutputFile {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.alloc(0);
  const { node_id: nodeId, filename, type } = query;
  return { seq, nodeId, filename, contentType: detectContentType(bytes, filename), bytes, type };
}

function uploadError(err: unknown): never {
  if (err instanceof OutputStoreError) throw new ApiError('internal_error', err.message);
  return leaseConflict(err);
}

/** A verb on a job the worker does not hold answers 409 `conflict`. */
function leaseConflict(err: unknown): never {
  if (err instanceof LeaseLostError) throw new ApiError('conflict', err.message);
  throw err;
}
