/**
 * The wire format of the worker API (`/v1/worker/...`), shared by the Fastify routes and RemoteJobChannel so
 * both ends parse exactly the same shapes. Field names are snake_case like the public API.
 */
import { z } from 'zod';
import { JOB_ERRORS, type JobErrorCode } from '../errors.js';
import { publicJobError } from '../jobs/public-job.js';
import type { JobError, JobInput, JobOutput, Workflow } from '../jobs/types.js';
import { MODEL_KINDS } from '../models/model-refs.js';
import { WORKER_STATUSES } from '../store/contract.js';
import type { LeasedJob, LeftoverAnswer, ModelReport, StoredOutput } from './job-channel.js';
import type { NodeDefinition } from '../comfy/node-definitions.js';

/** Header naming the registered worker on every call after `register`. */
export const WORKER_ID_HEADER = 'x-arrakis-worker';
/** Longest a claim or cancel long-poll may wait, under common proxy idle timeouts. */
export const MAX_LONG_POLL_MS = 25_000;
/**
 * How long the control plane lets a request's body take to arrive (its request timeout, REQUEST_TIMEOUT_MS in
 * api/context.ts; a test keeps the two equal): an output upload may take this long before its answer.
 */
export const UPLOAD_ARRIVAL_MS = 300_000;

/**
 * The largest output file the control plane stores (its upload route's default limit): an agent reads no more
 * of a file from ComfyUI than this, and fails the job with `output_store_failed` past it.
 */
export const MAX_OUTPUT_BYTES = 512 * 1024 * 1024;

const jobErrorCodes = Object.keys(JOB_ERRORS) as [JobErrorCode, ...JobErrorCode[]];

export const registerBody = z.strictObject({
  name: z.string().min(1).max(128).describe('Human name of the worker (host name, pod name)'),
  pool: z.string().min(1).max(64).optional().describe("Pool to serve; defaults to the token's pool"),
  comfy_url: z.string().max(2048).nullable().optional().describe('The ComfyUI URL as the agent sees it'),
});

/** PUT /node-definitions: what the agent's ComfyUI can run, for converting UI-format workflows. */
export const nodeDefinitionsBody = z.strictObject({
  definitions: z
    .array(
      z.object({
        name: z.string().min(1).max(256),
        display_name: z.string().max(512).optional(),
        /** Sent by agents before the API was all snake_case; read for one release so a rolling upgrade works. */
        displayName: z.string().max(512).optional(),
        inputs: z.array(
          z.object({
            name: z.string().min(1).max(256),
            type: z.string().max(256),
            choices: z.array(z.unknown()),
            options: z.record(z.string(), z.unknown()),
            optional: z.boolean(),
          }),
        ),
        outputs: z.array(z.string()),
      }),
    )
    .max(20_000),
});

/** Node definitions as the agent sends them (snake_case, like every JSON of the API). */
export function nodeDefinitionsToWire(
  definitions: readonly NodeDefinition[],
): z.input<typeof nodeDefinitionsBody> {
  return {
    definitions: definitions.map((d) => ({
      name: d.name,
      display_name: d.displayName,
      inputs: d.inputs.map((i) => ({ ...i, choices: [...i.choices], options: { ...i.options } })),
      outputs: [...d.outputs],
    })),
  };
}

export function nodeDefinitionsFromWire(body: z.infer<typeof nodeDefinitionsBody>): NodeDefinition[] {
  return body.definitions.map((d) => ({
    name: d.name,
    displayName: d.display_name ?? d.displayName ?? d.name,
    inputs: d.inputs,
    outputs: d.outputs,
  }));
}

export const registerReply = z.object({
  worker_id: z.string(),
  pool: z.string(),
  lease_ms: z.number().int().positive(),
});

export const statusBody = z.strictObject({ status: z.enum(WORKER_STATUSES) });

/** The id a worker gives one claim (`claim_id`): 8 – 64 of A–Z, a–z, 0–9, `_` and `-`. */
export const claimIdSchema = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/);
/** At most this many lost claims listed on one claim (an agent keeps its latest ones). */
export const MAX_LOST_CLAIMS = 16;

export const claimBody = z.strictObject({
  wait_ms: z.number().int().min(0).max(MAX_LONG_POLL_MS).default(0).describe('How long to wait for a job'),
  claim_id: claimIdSchema
    .optional()
    .describe('An id for this claim, recorded with the lease it makes (a later claim may list it as lost).'),
  lost_claims: z
    .array(claimIdSchema)
    .max(MAX_LOST_CLAIMS)
    .optional()
    .describe(
      "The ids of this worker's claims that ended without an answer it could read: the control plane gives back " +
        'any job one of them leased to this worker before it claims again, and nothing else.',
    ),
  lost_claim: z
    .boolean()
    .default(false)
    .describe(
      "The worker's previous claim ended without an answer it could read, for a worker that names no claims: " +
        'the control plane gives back the jobs leased to this worker before this claim arrived, when it handles ' +
        'this claim within a few seconds of its arrival. Ignored when `lost_claims` is given.',
    ),
});

const workflowSchema = z.record(
  z.string(),
  z.object({
    class_type: z.string(),
    inputs: z.record(z.string(), z.unknown()),
    _meta: z.unknown().optional(),
  }),
);

const inputWire = z.object({
  name: z.string(),
  filename: z.string(),
  content_type: z.string().nullable(),
  size: z.number().nullable(),
  stored: z.boolean().describe('The bytes are in storage and can be downloaded from the inputs endpoint'),
});

const modelRefWire = z.object({ kind: z.enum(MODEL_KINDS), name: z.string() });

const leasedJobWire = z.object({
  id: z.string(),
  workflow: workflowSchema,
  inputs: z.array(inputWire),
  attempt: z.number().int(),
  lease_ms: z.number().int().positive(),
  file_node_allowlist: z
    .array(z.string())
    .default([])
    .describe('Node types whose file inputs pass unchecked for this job (docs/security.md)'),
  // Absent from a control plane older than models: nothing to fetch.
  models: z.array(modelRefWire).default([]),
});

const names = z.array(z.string().max(1024)).max(100_000);

export const modelsBody = z.strictObject({
  available: names.describe("Files its ComfyUI can load (its loaders' file lists in /object_info)"),
  warm: names.describe('Files resident in its ComfyUI'),
  on_disk: names.describe("Files on the worker's disk"),
  can_fetch: z.boolean().describe('The agent has a model cache and fetches registered files'),
  model_switches: z.number().int().min(0),
  loads: z
    .array(z.strictObject({ tier: z.enum(['disk', 'fetch']), seconds: z.number().min(0).max(86_400) }))
    .max(1000)
    .default([]),
  // Sent only when not empty, so an agent can still report to a control plane older than the field.
  prefetch_failed: names
    .optional()
    .describe('Asked prefetch files the agent gave up on after its retries; their ask is dropped'),
});

export const modelsReply = z.object({
  // Absent from a control plane without prefetch: nothing to fetch.
  prefetch: z.array(modelRefWire).default([]),
});

export const modelFileParams = z.object({ name: z.string().min(1).max(1024) });

export const modelFileReply = z.object({
  name: z.string(),
  kind: z.enum(MODEL_KINDS),
  url: z.string(),
  sha256: z.string(),
  size: z.number().int().min(0),
});

export function modelReportToWire(r: ModelReport): z.infer<typeof modelsBody> {
  return {
    available: r.available,
    warm: r.warm,
    on_disk: r.onDisk,
    can_fetch: r.canFetch,
    model_switches: r.switches,
    loads: r.loads,
    ...(r.prefetchFailed !== undefined && r.prefetchFailed.length > 0
      ? { prefetch_failed: r.prefetchFailed }
      : {}),
  };
}

export const claimReply = z.object({ job: leasedJobWire.nullable() });

export const leaseReply = z.object({ lease: z.enum(['held', 'cancel_requested', 'lost']) });

export const progressBody = z.strictObject({
  value: z.number().finite(),
  max: z.number().finite(),
  node: z.string().max(256).nullable(),
  class_type: z.string().max(256).nullable().optional().describe("The running node's class"),
  fraction: z.number().min(0).max(1).optional().describe('0–1 over the whole prompt'),
});

export const progressReply = z.object({ held: z.boolean() });

export const cancelQuery = z.object({
  wait_ms: z.coerce.number().int().min(0).max(MAX_LONG_POLL_MS).default(0),
});

const outputType = z.enum(['output', 'temp']);

export const outputQuery = z.object({
  node_id: z.string().min(1).max(256),
  filename: z.string().min(1).max(512),
  type: outputType.default('output').describe('ComfyUI folder type: output (saved) or temp (preview)'),
});

export const outputWire = z.strictObject({
  index: z.number().int().min(0),
  node_id: z.string(),
  filename: z.string(),
  content_type: z.string(),
  size: z.number().int().min(0),
  object_key: z.string(),
  type: outputType.optional(),
});

/** A file the output upload stored (`PUT /jobs/{id}/output-files/{seq}`): complete reports it with an index. */
export const storedOutputWire = outputWire.omit({ index: true });

export const completeBody = z.strictObject({
  outputs: z.array(outputWire).max(1000),
  progress: progressBody
    .optional()
    .describe("The run's last progress not yet reported: recorded before the outputs, with the completion"),
});

export const failBody = z.strictObject({
  error: z.strictObject({
    code: z.enum(jobErrorCodes),
    message: z.string().max(4000),
    node_id: z.string().max(256).optional(),
    details: z
      .array(
        z.strictObject({
          node_id: z.string().max(256),
          class_type: z.string().max(256).nullable(),
          input: z.string().max(256).nullable(),
          message: z.string().max(4000),
        }),
      )
      .max(100)
      .optional(),
  }),
});

export const releaseBody = z.strictObject({
  reason: z.string().max(1000),
  voluntary: z.boolean().default(false),
});

/**
 * `POST /jobs/{id}/leftover`: an agent found the prompt of this job's attempt in its ComfyUI's queue when it
 * (re)gained its ComfyUI, running no job itself. The answer says what became of it and what to do with the
 * prompt (LeftoverAnswer; `retry_after_ms` only with `recent`; WorkerService.releaseLeftover).
 */
export const leftoverBody = z.strictObject({ attempt: z.number().int().min(1).max(999_999_999) });
export const leftoverReply = z.union([
  z.object({ outcome: z.enum(['released', 'held', 'stale']) }),
  z.object({ outcome: z.literal('recent'), retry_after_ms: z.number().int().min(0).max(3_600_000) }),
]);

export function leftoverToWire(a: LeftoverAnswer): z.infer<typeof leftoverReply> {
  return a.outcome === 'recent' ? { outcome: a.outcome, retry_after_ms: a.retryAfterMs } : a;
}

export function leftoverFromWire(body: unknown): LeftoverAnswer {
  const a = leftoverReply.parse(body);
  return a.outcome === 'recent'
    ? { outcome: a.outcome, retryAfterMs: a.retry_after_ms }
    : { outcome: a.outcome };
}

export const reportReply = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('finished'),
    status: z.enum(['queued', 'running', 'completed', 'failed', 'cancelled']),
  }),
  z.object({ kind: z.literal('lost') }),
]);

/** The leased job as sent to a remote worker (storage keys stay on the control plane). */
export function leasedJobToWire(job: LeasedJob): z.infer<typeof leasedJobWire> {
  return {
    id: job.id,
    workflow: job.workflow,
    inputs: job.inputs.map((i) => ({
      name: i.name,
      filename: i.filename,
      content_type: i.contentType ?? null,
      size: i.size ?? null,
      stored: i.objectKey !== undefined,
    })),
    attempt: job.attempt,
    lease_ms: job.leaseMs,
    file_node_allowlist: job.fileNodeAllowlist ?? [],
    models: job.models,
  };
}

/** The remote worker's view: a stored input gets a placeholder key, only ever used to ask for its bytes. */
export function leasedJobFromWire(wire: z.infer<typeof leasedJobWire>): LeasedJob {
  const workflow: Workflow = wire.workflow;
  const inputs: JobInput[] = wire.inputs.map((i) => ({
    name: i.name,
    filename: i.filename,
    contentType: i.content_type ?? undefined,
    size: i.size ?? undefined,
    objectKey: i.stored ? `remote:${i.name}` : undefined,
  }));
  return {
    id: wire.id,
    workflow,
    inputs,
    attempt: wire.attempt,
    leaseMs: wire.lease_ms,
    fileNodeAllowlist: wire.file_node_allowlist,
    models: wire.models,
  };
}

export function storedOutputToWire(o: StoredOutput): z.infer<typeof storedOutputWire> {
  const { node_id, filename, content_type, size, object_key, type } = outputToWire({ index: 0, ...o });
  return { node_id, filename, content_type, size, object_key, ...(type === undefined ? {} : { type }) };
}

export function storedOutputFromWire(o: z.infer<typeof storedOutputWire>): StoredOutput {
  const { nodeId, filename, contentType, size, objectKey, type } = outputFromWire({ index: 0, ...o });
  return { nodeId, filename, contentType, size, objectKey, ...(type === undefined ? {} : { type }) };
}

export function outputToWire(o: JobOutput): z.infer<typeof outputWire> {
  return {
    index: o.index,
    node_id: o.nodeId,
    filename: o.filename,
    content_type: o.contentType,
    size: o.size,
    object_key: o.objectKey,
    ...(o.type === undefined ? {} : { type: o.type }),
  };
}

/**
 * A job error as a worker reports it: its public JSON, cut to the wire limits (a node id is the submitter's
 * and unbounded: a report the server refuses would leave the job to its lease and run it again).
 */
export function jobErrorToWire(error: JobError): z.infer<typeof failBody>['error'] {
  const id = (s: string): string => s.slice(0, 256);
  return publicJobError({
    code: error.code,
    message: error.message.slice(0, 4000),
    nodeId: error.nodeId === undefined ? undefined : id(error.nodeId),
    details: error.details?.slice(0, 100).map((d) => ({
      nodeId: id(d.nodeId),
      classType: d.classType === null ? null : id(d.classType),
      input: d.input === null ? null : id(d.input),
      message: d.message.slice(0, 4000),
    })),
  });
}

export function jobErrorFromWire(error: z.infer<typeof failBody>['error']): JobError {
  return {
    code: error.code,
    message: error.message,
    nodeId: error.node_id,
    ...(error.details === undefined
      ? {}
      : {
          details: error.details.map((d) => ({
            nodeId: d.node_id,
            classType: d.class_type,
            input: d.input,
            message: d.message,
          })),
        }),
  };
}

export function outputFromWire(o: z.infer<typeof outputWire>): JobOutput {
  return {
    index: o.index,
    nodeId: o.node_id,
    filename: o.filename,
    contentType: o.content_type,
    size: o.size,
    objectKey: o.object_key,
    ...(o.type === undefined ? {} : { type: o.type }),
  };
}
