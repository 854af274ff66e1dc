/**
 * The worker API, mounted at `/v1/worker`: how a remote `arrakis agent` that can only connect out registers,
 * claims jobs (long-poll), renews leases, hears cancels (long-poll), moves bytes and reports outcomes.
 * Every job endpoint acts only on a job leased to the calling worker.
 */
import { detectContentType } from '../../media/output-content-type.js';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ForeignOutputError, WorkerService, type WorkerServiceDeps } from '../../workers/worker-service.js';
import { LeaseLostError, OutputStoreError, type LeasedJob } from '../../workers/job-channel.js';
import * as wire from '../../workers/worker-protocol.js';
import { verifyWorkerToken } from '../../workers/worker-tokens.js';
import { ApiError } from '../../errors.js';
import type { EventBus } from '../../events/bus.js';
import type { NodeTypeRegistry } from '../../jobs/node-type-registry.js';
import type { ObjectStorage } from '../../media/storage/contract.js';
import type { Store, WorkerRecord, WorkerToken } from '../../store/contract.js';
import { newId } from '../../util/ids.js';
import { installProblemHandlers } from '../problem.js';

export { issueWorkerToken } from '../../workers/worker-tokens.js';

/** The job hooks (log, metrics) see remote workers' claims and reports too. */
export interface WorkerRoutesDeps extends Pick<WorkerServiceDeps, 'onClaimed' | 'onRequeued' | 'onFinished'> {
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
}

const jobParams = z.object({ jobId: z.string().regex(/^[A-Za-z0-9_-]{1,128}$/) });
const inputParams = jobParams.extend({ name: z.string().min(1).max(256) });
const outputParams = jobParams.extend({ index: z.coerce.number().int().min(0).max(9999) });

/** Parses `data` with `schema`, or answers 400 `validation_failed` naming the fields. */
function parse<T>(schema: z.ZodType<T>, data: unknown, where: string): T {
  const result = schema.safeParse(data ?? {});
  if (result.success) return result.data;
  const errors = result.error.issues.map((i) => ({
    path: [where, ...i.path.map(String)].join('.'),
    message: i.message,
  }));
  throw new ApiError('validation_failed', 'The request does not match the worker API schema.', { errors });
}

/** An AbortSignal that fires when the client goes away or the server is closing (ends long-polls early). */
function pollSignal(reply: FastifyReply, closing: AbortSignal): AbortSignal {
  const gone = new AbortController();
  reply.raw.once('close', () => gone.abort());
  return AbortSignal.any([gone.signal, closing]);
}

/** The worker API as a Fastify plugin (mount it with `{ prefix: '/v1/worker' }`). */
export function workerRoutes(deps: WorkerRoutesDeps): FastifyPluginAsync {
  return async (app) => {
    const service = new WorkerService(deps);
    const closing = new AbortController();
    // Without this, open long-polls would hold `app.close()` for up to 25 s; and their connections,
    // busy when the server began closing, must not then stay open as keep-alive.
    app.addHook('preClose', async () => closing.abort());
    app.addHook('onSend', async (_request, reply) => {
      if (closing.signal.aborted) void reply.header('connection', 'close');
    });
    installProblemHandlers(app);
    const workerOf: WorkerOf = (request) => authenticateWorker(deps.store, request);
    registerWorkerRoutes(app, deps, service, closing.signal);
    registerLeaseRoutes(app, service, workerOf, closing.signal);
    registerReportRoutes(app, service, workerOf);
    registerNodeDefinitionRoute(app, workerOf, deps.nodeTypes);
    registerModelRoutes(app, service, workerOf);
    await app.register(outputUploadRoutes(service, workerOf, deps.maxOutputBytes ?? 512 * 1024 * 1024));
  };
}

type WorkerOf = (request: FastifyRequest) => Promise<WorkerRecord>;

/** PUT /node-definitions: the nodes of the worker's ComfyUI, kept for this replica's submissions. */
function registerNodeDefinitionRoute(
  app: FastifyInstance,
  workerOf: WorkerOf,
  registry: NodeTypeRegistry | undefined,
): void {
  app.put('/node-definitions', { bodyLimit: 64 * 1024 * 1024 }, async (request, reply) => {
    const worker = await workerOf(request);
    const { definitions } = parse(wire.nodeDefinitionsBody, request.body, 'body');
    const byName = new Map(definitions.map((d) => [d.name, d]));
    registry?.set(worker.id, new Set(byName.keys()), { definitions: byName });
    return reply.code(204).send();
  });
}

/** The caller's worker token (valid and unrevoked), else 401. */
async function authenticateToken(store: Store, request: FastifyRequest): Promise<WorkerToken> {
  const header = request.headers.authorization ?? '';
  const token = header.startsWith('Bearer ') ? await verifyWorkerToken(store, header.slice(7).trim()) : null;
  if (token === null)
    throw new ApiError(
      'unauthorized',
      'Send Authorization: Bearer <worker token>; revoked tokens are refused.',
    );
  return token;
}

/** The registered worker the caller speaks for; it must have been registered with the same token. */
async function authenticateWorker(store: Store, request: FastifyRequest): Promise<WorkerRecord> {
  const token = await authenticateToken(store, request);
  const id = request.headers[wire.WORKER_ID_HEADER];
  const worker = typeof id === 'string' ? await store.getWorker(id) : null;
  if (worker === null || worker.kind !== 'remote' || worker.providerRef !== token.id) {
    throw new ApiError(
      'unauthorized',
      `Unknown worker: register first and send its id in ${wire.WORKER_ID_HEADER}.`,
    );
  }
  return worker;
}

/** Register, status and the claim long-poll. */
function registerWorkerRoutes(
  app: FastifyInstance,
  deps: WorkerRoutesDeps,
  service: WorkerService,
  closing: AbortSignal,
): void {
  app.post('/register', async (request, reply) => {
    const token = await authenticateToken(deps.store, request);
    const body = parse(wire.registerBody, request.body, 'body');
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

  app.post('/status', async (request) => {
    const worker = await authenticateWorker(deps.store, request);
    const body = parse(wire.statusBody, request.body, 'body');
    await service.setStatus(worker.id, body.status);
    if (body.status === 'stopped') deps.nodeTypes?.remove(worker.id);
    return { status: body.status };
  });

  app.post('/claim', async (request, reply) => {
    const worker = await authenticateWorker(deps.store, request);
    const body = parse(wire.claimBody, request.body, 'body');
    const job = await service.claim(worker.id, worker.pool, body.wait_ms, pollSignal(reply, closing));
    if (job === null) return { job: null };
    if (reply.raw.destroyed) {
      // The worker hung up while the claim ran: it will never hear of this job, so give it straight back.
      await service.release(job.id, worker.id, 'the claim reply could not be delivered', true);
      return reply;
    }
    const leased: LeasedJob = {
      id: job.id,
      workflow: job.workflow,
      inputs: job.inputs,
      attempt: job.attempts,
      leaseMs: deps.leaseMs,
      fileNodeAllowlist: await service.fileNodeAllowlist(job.accountId),
      models: job.models,
    };
    return { job: wire.leasedJobToWire(leased) };
  });
}

/** Heartbeat, cancel long-poll, progress and input download: all scoped to the caller's lease. */
function registerLeaseRoutes(
  app: FastifyInstance,
  service: WorkerService,
  workerOf: WorkerOf,
  closing: AbortSignal,
): void {
  app.post('/jobs/:jobId/heartbeat', async (request) => {
    const worker = await workerOf(request);
    const { jobId } = parse(jobParams, request.params, 'params');
    return { lease: await service.heartbeat(jobId, worker.id) };
  });

  app.get('/jobs/:jobId/cancel', async (request, reply) => {
    const worker = await workerOf(request);
    const { jobId } = parse(jobParams, request.params, 'params');
    const query = parse(wire.cancelQuery, request.query, 'query');
    return {
      lease: await service.waitForCancel(jobId, worker.id, query.wait_ms, pollSignal(reply, closing)),
    };
  });

  app.post('/jobs/:jobId/progress', async (request) => {
    const worker = await workerOf(request);
    const { jobId } = parse(jobParams, request.params, 'params');
    const body = parse(wire.progressBody, request.body, 'body');
    return { held: await service.progress(jobId, worker.id, body) };
  });

  app.get('/jobs/:jobId/inputs/:name', async (request, reply) => {
    const worker = await workerOf(request);
    const { jobId, name } = parse(inputParams, request.params, 'params');
    const found = await service.openInput(jobId, worker.id, name).catch(leaseConflict);
    if (found === null) throw new ApiError('not_found', `Job ${jobId} has no stored input named "${name}".`);
    return reply.header('content-length', found.size).type('application/octet-stream').send(found.body);
  });
}

/** Terminal reports: complete, fail, finish-cancel, release. `lost` answers mean another worker may own the job. */
function registerReportRoutes(app: FastifyInstance, service: WorkerService, workerOf: WorkerOf): void {
  app.post('/jobs/:jobId/complete', async (request) => {
    const worker = await workerOf(request);
    const { jobId } = parse(jobParams, request.params, 'params');
    const body = parse(wire.completeBody, request.body, 'body');
    try {
      return await service.complete(jobId, worker.id, body.outputs.map(wire.outputFromWire));
    } catch (err) {
      if (err instanceof ForeignOutputError) throw new ApiError('validation_failed', err.message);
      throw err;
    }
  });

  app.post('/jobs/:jobId/fail', async (request) => {
    const worker = await workerOf(request);
    const { jobId } = parse(jobParams, request.params, 'params');
    const { error } = parse(wire.failBody, request.body, 'body');
    return await service.fail(jobId, worker.id, {
      code: error.code,
      message: error.message,
      nodeId: error.node_id,
    });
  });

  app.post('/jobs/:jobId/finish-cancel', async (request) => {
    const worker = await workerOf(request);
    const { jobId } = parse(jobParams, request.params, 'params');
    return await service.finishCancel(jobId, worker.id);
  });

  app.post('/jobs/:jobId/release', async (request) => {
    const worker = await workerOf(request);
    const { jobId } = parse(jobParams, request.params, 'params');
    const body = parse(wire.releaseBody, request.body, 'body');
    return await service.release(jobId, worker.id, body.reason, body.voluntary);
  });
}

/** The worker's model report, and the registry entry of a file its model cache is to fetch. */
function registerModelRoutes(app: FastifyInstance, service: WorkerService, workerOf: WorkerOf): void {
  app.post('/models', async (request) => {
    const worker = await workerOf(request);
    const body = parse(wire.modelsBody, request.body, 'body');
    const prefetch = await service.reportModels(worker.id, {
      available: body.available,
      warm: body.warm,
      onDisk: body.on_disk,
      canFetch: body.can_fetch,
      switches: body.model_switches,
      loads: body.loads,
    });
    return { prefetch };
  });

  app.get('/models/:name', async (request) => {
    await workerOf(request);
    const { name } = parse(wire.modelFileParams, request.params, 'params');
    const file = await service.modelFile(name);
    if (file === null) throw new ApiError('not_found', `No registered model file named "${name}".`);
    return { name: file.name, kind: file.kind, url: file.url, sha256: file.sha256, size: file.size };
  });
}

/** Output upload takes the raw file as the body, so it lives in its own context with a bytes-only parser. */
function outputUploadRoutes(
  service: WorkerService,
  workerOf: WorkerOf,
  maxBytes: number,
): FastifyPluginAsync {
  return async (app) => {
    // The token is checked before a single body byte is read: an anonymous client must not be able to make
    // the server buffer an upload.
    const authenticated = new WeakMap<FastifyRequest, WorkerRecord>();
    app.addHook('onRequest', async (request) => {
      authenticated.set(request, await workerOf(request));
    });
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: maxBytes }, (_request, body, done) => {
      done(null, body);
    });
    app.put('/jobs/:jobId/outputs/:index', async (request) => {
      const worker = authenticated.get(request) ?? (await workerOf(request));
      const { jobId, index } = parse(outputParams, request.params, 'params');
      const query = parse(wire.outputQuery, request.query, 'query');
      const bytes = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      // The type users are served comes from the bytes, not from what a worker declares.
      const contentType = detectContentType(bytes, query.filename);
      try {
        const output = await service.putOutput(jobId, worker.id, {
          index,
          nodeId: query.node_id,
          filename: query.filename,
          contentType,
          bytes,
        });
        return wire.outputToWire(output);
      } catch (err) {
        if (err instanceof OutputStoreError) throw new ApiError('internal_error', err.message);
        return leaseConflict(err);
      }
    });
  };
}

/** A verb on a job the worker does not hold answers 409 `conflict`. */
function leaseConflict(err: unknown): never {
  if (err instanceof LeaseLostError) throw new ApiError('conflict', err.message);
  throw err;
}
