/** Row mappers: every row read from either database is validated with zod and turned into a domain type. */
import { z } from 'zod';
import type { Account, ApiKeyRecord, Job, Template } from '../jobs/types.js';
import { JOB_STATUSES } from '../jobs/types.js';
import { MODEL_KINDS } from '../models/model-refs.js';
import type {
  JobEvent,
  ModelFile,
  ScalingDecision,
  WebhookAttempt,
  WebhookDelivery,
  WorkerRecord,
  WorkerToken,
} from './contract.js';
import {
  jobErrorSchema,
  jobInputSchema,
  jobOutputSchema,
  jobProgressSchema,
  jwtConfigSchema,
  objectSchema,
  parseJson,
  parseJsonOrNull,
  scopesSchema,
  stringListSchema,
  templateParamsSchema,
  workflowSchema,
} from './json-columns.js';

const num = z.number();
const numOrNull = z.number().nullable();
const str = z.string();
const strOrNull = z.string().nullable();

const jobRowSchema = z.object({
  id: str,
  account_id: str,
  user_id: str,
  status: z.enum(JOB_STATUSES),
  priority: num,
  pool: strOrNull,
  cancel_requested: num,
  created_at: num,
  started_at: numOrNull,
  finished_at: numOrNull,
  workflow: str,
  template_name: strOrNull,
  inputs: str,
  inputs_ready: num,
  webhook_url: strOrNull,
  metadata: str,
  progress: strOrNull,
  outputs: str,
  error: strOrNull,
  attempts: num,
  worker_id: strOrNull,
  lease_expires_at: numOrNull,
  idempotency_key: strOrNull,
  models: str,
});

/** A `jobs` row → Job. */
// Built once: constructing zod schemas per row showed up in the API's hot path.
const jobInputsSchema = z.array(jobInputSchema);
const jobOutputsSchema = z.array(jobOutputSchema);
const modelRefsSchema = z.array(z.object({ kind: z.enum(MODEL_KINDS), name: z.string() }));

export function toJob(row: unknown): Job {
  const r = jobRowSchema.parse(row);
  return {
    id: r.id,
    accountId: r.account_id,
    userId: r.user_id,
    status: r.status,
    priority: r.priority,
    pool: r.pool,
    cancelRequested: r.cancel_requested !== 0,
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    workflow: parseJson(workflowSchema, r.workflow),
    templateName: r.template_name,
    inputs: parseJson(jobInputsSchema, r.inputs),
    inputsReady: r.inputs_ready !== 0,
    webhookUrl: r.webhook_url,
    metadata: parseJson(objectSchema, r.metadata),
    progress: parseJsonOrNull(jobProgressSchema, r.progress),
    outputs: parseJson(jobOutputsSchema, r.outputs),
    error: parseJsonOrNull(jobErrorSchema, r.error),
    attempts: r.attempts,
    workerId: r.worker_id,
    leaseExpiresAt: r.lease_expires_at,
    idempotencyKey: r.idempotency_key,
    models: parseJson(modelRefsSchema, r.models),
  };
}

const accountRowSchema = z.object({
  id: str,
  name: str,
  max_active_jobs_per_user: num,
  max_active_jobs: num,
  submit_rate_per_user: num,
  submit_burst_per_user: num,
  jwt: strOrNull,
  node_allowlist: strOrNull,
  file_node_allowlist: str,
  allowed_pools: strOrNull,
  webhook_secret: str,
  webhook_secret_previous: strOrNull,
  webhook_secret_previous_until: numOrNull,
  created_at: num,
});

/** An `accounts` row → Account. */
export function toAccount(row: unknown): Account {
  const r = accountRowSchema.parse(row);
  return {
    id: r.id,
    name: r.name,
    limits: {
      max_active_jobs_per_user: r.max_active_jobs_per_user,
      max_active_jobs: r.max_active_jobs,
      submit_rate_per_user: r.submit_rate_per_user,
      submit_burst_per_user: r.submit_burst_per_user,
    },
    jwt: parseJsonOrNull(jwtConfigSchema, r.jwt),
    nodeAllowlist: parseJsonOrNull(stringListSchema, r.node_allowlist),
    fileNodeAllowlist: parseJsonOrNull(stringListSchema, r.file_node_allowlist) ?? [],
    allowedPools: parseJsonOrNull(stringListSchema, r.allowed_pools),
    webhookSecret: r.webhook_secret,
    webhookSecretPrevious: r.webhook_secret_previous,
    webhookSecretPreviousUntil: r.webhook_secret_previous_until,
    createdAt: r.created_at,
  };
}

const apiKeyRowSchema = z.object({
  id: str,
  account_id: str,
  name: str,
  hash: str,
  scopes: str,
  created_at: num,
  last_used_at: numOrNull,
  revoked_at: numOrNull,
});

/** An `api_keys` row → ApiKeyRecord. */
export function toApiKey(row: unknown): ApiKeyRecord {
  const r = apiKeyRowSchema.parse(row);
  return {
    id: r.id,
    accountId: r.account_id,
    name: r.name,
    hash: r.hash,
    scopes: parseJson(scopesSchema, r.scopes),
    createdAt: r.created_at,
    lastUsedAt: r.last_used_at,
    revokedAt: r.revoked_at,
  };
}

const templateRowSchema = z.object({
  name: str,
  description: str,
  workflow: str,
  params: str,
  account_id: strOrNull,
  created_at: num,
  updated_at: num,
});

/** A `templates` row → Template. */
export function toTemplate(row: unknown): Template {
  const r = templateRowSchema.parse(row);
  return {
    name: r.name,
    description: r.description,
    workflow: parseJson(workflowSchema, r.workflow),
    params: parseJson(templateParamsSchema, r.params),
    accountId: r.account_id,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

const jobEventRowSchema = z.object({
  job_id: str,
  seq: num,
  type: z.enum(['status', 'progress', 'output', 'done']),
  data: str,
  at: num,
});

/** A `job_events` row → JobEvent. */
export function toJobEvent(row: unknown): JobEvent {
  const r = jobEventRowSchema.parse(row);
  return { jobId: r.job_id, seq: r.seq, type: r.type, data: parseJson(objectSchema, r.data), at: r.at };
}

const deliveryRowSchema = z.object({
  id: str,
  account_id: str,
  job_id: str,
  url: str,
  event_type: z.enum(['job.completed', 'job.failed', 'job.cancelled']),
  payload: str,
  status: z.enum(['pending', 'delivered', 'failed', 'disabled']),
  attempts: num,
  next_attempt_at: num,
  last_error: strOrNull,
  created_at: num,
  delivered_at: numOrNull,
});

/** A `webhook_deliveries` row → WebhookDelivery. */
export function toWebhookDelivery(row: unknown): WebhookDelivery {
  const r = deliveryRowSchema.parse(row);
  return {
    id: r.id,
    accountId: r.account_id,
    jobId: r.job_id,
    url: r.url,
    eventType: r.event_type,
    payload: parseJson(objectSchema, r.payload),
    status: r.status,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    lastError: r.last_error,
    createdAt: r.created_at,
    deliveredAt: r.delivered_at,
  };
}

const attemptRowSchema = z.object({
  delivery_id: str,
  attempt: num,
  at: num,
  status_code: numOrNull,
  error: strOrNull,
  duration_ms: num,
});

/** A `webhook_attempts` row → WebhookAttempt. */
export function toWebhookAttempt(row: unknown): WebhookAttempt {
  const r = attemptRowSchema.parse(row);
  return {
    deliveryId: r.delivery_id,
    attempt: r.attempt,
    at: r.at,
    statusCode: r.status_code,
    error: r.error,
    durationMs: r.duration_ms,
  };
}

const workerRowSchema = z.object({
  id: str,
  name: str,
  pool: str,
  kind: z.enum(['inprocess', 'remote']),
  comfy_url: strOrNull,
  status: z.enum(['starting', 'warming', 'idle', 'busy', 'unhealthy', 'stopping', 'stopped']),
  provider_ref: strOrNull,
  started_at: num,
  ready_at: numOrNull,
  stopped_at: numOrNull,
  last_seen_at: num,
  models_known: num,
  models_available: str,
  models_warm: str,
  models_on_disk: str,
  model_fetch: num,
  model_switches: num,
  models_prefetch: str,
});

/** A `workers` row → WorkerRecord. */
export function toWorker(row: unknown): WorkerRecord {
  const r = workerRowSchema.parse(row);
  return {
    id: r.id,
    name: r.name,
    pool: r.pool,
    kind: r.kind,
    comfyUrl: r.comfy_url,
    status: r.status,
    providerRef: r.provider_ref,
    startedAt: r.started_at,
    readyAt: r.ready_at,
    stoppedAt: r.stopped_at,
    lastSeenAt: r.last_seen_at,
    models: {
      known: r.models_known !== 0,
      available: parseJson(stringListSchema, r.models_available),
      warm: parseJson(stringListSchema, r.models_warm),
      onDisk: parseJson(stringListSchema, r.models_on_disk),
      canFetch: r.model_fetch !== 0,
      switches: r.model_switches,
      prefetch: parseJson(modelRefsSchema, r.models_prefetch),
    },
  };
}

const modelFileRowSchema = z.object({
  name: str,
  kind: z.enum(MODEL_KINDS),
  url: str,
  sha256: str,
  size: z.coerce.number(),
  created_at: num,
});

/** A `model_files` row → ModelFile. */
export function toModelFile(row: unknown): ModelFile {
  const r = modelFileRowSchema.parse(row);
  return { name: r.name, kind: r.kind, url: r.url, sha256: r.sha256, size: r.size, createdAt: r.created_at };
}

const workerTokenRowSchema = z.object({
  id: str,
  name: str,
  pool: str,
  hash: str,
  created_at: num,
  revoked_at: numOrNull,
});

/** A `worker_tokens` row → WorkerToken. */
export function toWorkerToken(row: unknown): WorkerToken {
  const r = workerTokenRowSchema.parse(row);
  return {
    id: r.id,
    name: r.name,
    pool: r.pool,
    hash: r.hash,
    createdAt: r.created_at,
    revokedAt: r.revoked_at,
  };
}

const scalingRowSchema = z.object({ pool: str, at: num, current_count: num, target_count: num, reason: str });

/** A `scaling_decisions` row → ScalingDecision. */
export function toScalingDecision(row: unknown): ScalingDecision {
  const r = scalingRowSchema.parse(row);
  return { pool: r.pool, at: r.at, current: r.current_count, target: r.target_count, reason: r.reason };
}
