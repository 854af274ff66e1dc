/** Row mappers: every row read from either database is validated with zod and turned into a domain type. */
import { z } from 'zod';
import type { Account, ApiKeyRecord, Job, Template } from '../jobs/types.js';
import { JOB_STATUSES } from '../jobs/types.js';
import { MODEL_KINDS } from '../models/model-refs.js';
import type {
  ModelFile,
  ScalingDecision,
  WebhookAttempt,
  WebhookDelivery,
  WorkerRecord,
  WorkerToken,
} from './contract.js';
import { WORKER_STATUSES } from './contract.js';
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
} from './json-columns.js';
import { parseWorkflowColumn } from './workflow-column.js';

const num = z.number();
const numOrNull = z.number().nullable();
const str = z.string();
const strOrNull = z.string().nullable();
/** SQLite and Postgres both store flags as 0/1 integers. */
const flag = num.transform((n) => n !== 0);
/** A TEXT column holding JSON that `schema` parses. */
const json = <T>(schema: z.ZodType<T>) => str.transform((s) => parseJson(schema, s));
const jsonOrNull = <T>(schema: z.ZodType<T>) => strOrNull.transform((s) => parseJsonOrNull(schema, s));
/** A `workflow` column of `table` (checked by hand: see workflow-column.ts). */
const workflow = (table: string) => str.transform((s) => parseWorkflowColumn(table, s));

type CamelCase<S extends string> = S extends `${infer H}_${infer T}` ? `${H}${Capitalize<CamelCase<T>>}` : S;
type Camelized<T> = { [K in keyof T & string as CamelCase<K>]: T[K] };

/**
 * A row schema whose output carries the columns under their camelCase names (`created_at` → `createdAt`), so a
 * table whose record is a one-to-one copy needs no hand-written mapper. The key map is built once, not per row.
 */
function camelRow<S extends z.ZodRawShape>(shape: S) {
  const names: [string, string][] = Object.keys(shape).map((k) => [
    k,
    k.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase()),
  ]);
  return z.object(shape).transform((row) => {
    const source: Record<string, unknown> = row;
    const out: Record<string, unknown> = {};
    for (const [from, to] of names) out[to] = source[from];
    // The keys are exactly the shape's, renamed as the type says; the values were parsed above.
    return out as Camelized<typeof row>;
  });
}

// Built once: constructing zod schemas per row showed up in the API's hot path.
const jobInputsSchema = z.array(jobInputSchema);
const jobOutputsSchema = z.array(jobOutputSchema);
/** A JSON column of model refs ([{ kind, name }]). */
export const modelRefsSchema = z.array(z.object({ kind: z.enum(MODEL_KINDS), name: z.string() }));

const jobRowSchema = camelRow({
  id: str,
  account_id: str,
  user_id: str,
  status: z.enum(JOB_STATUSES),
  priority: num,
  // NULL only in rows written before pools were resolved at admission; serve start adopts them first.
  pool: str,
  cancel_requested: flag,
  created_at: num,
  started_at: numOrNull,
  finished_at: numOrNull,
  workflow: workflow('jobs'),
  template_name: strOrNull,
  inputs: json(jobInputsSchema),
  inputs_ready: flag,
  webhook_url: strOrNull,
  metadata: json(objectSchema),
  progress: jsonOrNull(jobProgressSchema),
  outputs: json(jobOutputsSchema),
  error: jsonOrNull(jobErrorSchema),
  attempts: num,
  worker_id: strOrNull,
  lease_expires_at: numOrNull,
  idempotency_key: strOrNull,
  models: json(modelRefsSchema),
});

/** A `jobs` row → Job. */
export function toJob(row: unknown): Job {
  return jobRowSchema.parse(row);
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

const apiKeyRowSchema = camelRow({
  id: str,
  account_id: str,
  name: str,
  hash: str,
  scopes: json(scopesSchema),
  created_at: num,
  last_used_at: numOrNull,
  revoked_at: numOrNull,
});

/** An `api_keys` row → ApiKeyRecord. */
export function toApiKey(row: unknown): ApiKeyRecord {
  return apiKeyRowSchema.parse(row);
}

const templateRowSchema = camelRow({
  name: str,
  description: str,
  workflow: workflow('templates'),
  params: json(templateParamsSchema),
  account_id: strOrNull,
  created_at: num,
  updated_at: num,
});

/** A `templates` row → Template. */
export function toTemplate(row: unknown): Template {
  return templateRowSchema.parse(row);
}

const deliveryRowSchema = camelRow({
  id: str,
  account_id: str,
  job_id: str,
  url: str,
  event_type: z.enum(['job.completed', 'job.failed', 'job.cancelled']),
  payload: json(objectSchema),
  status: z.enum(['pending', 'delivered', 'failed', 'disabled']),
  attempts: num,
  next_attempt_at: num,
  last_error: strOrNull,
  created_at: num,
  delivered_at: numOrNull,
});

/** A `webhook_deliveries` row → WebhookDelivery. */
export function toWebhookDelivery(row: unknown): WebhookDelivery {
  return deliveryRowSchema.parse(row);
}

const attemptRowSchema = camelRow({
  delivery_id: str,
  attempt: num,
  at: num,
  status_code: numOrNull,
  error: strOrNull,
  duration_ms: num,
});

/** A `webhook_attempts` row → WebhookAttempt. */
export function toWebhookAttempt(row: unknown): WebhookAttempt {
  return attemptRowSchema.parse(row);
}

const workerRowSchema = z.object({
  id: str,
  name: str,
  pool: str,
  kind: z.enum(['inprocess', 'remote']),
  comfy_url: strOrNull,
  status: z.enum(WORKER_STATUSES),
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

const modelFileRowSchema = camelRow({
  name: str,
  kind: z.enum(MODEL_KINDS),
  url: str,
  sha256: str,
  size: z.coerce.number(),
  created_at: num,
});

/** A `model_files` row → ModelFile. */
export function toModelFile(row: unknown): ModelFile {
  return modelFileRowSchema.parse(row);
}

const workerTokenRowSchema = camelRow({
  id: str,
  name: str,
  pool: str,
  hash: str,
  created_at: num,
  revoked_at: numOrNull,
});

/** A `worker_tokens` row → WorkerToken. */
export function toWorkerToken(row: unknown): WorkerToken {
  return workerTokenRowSchema.parse(row);
}

const scalingRowSchema = z.object({ pool: str, at: num, current_count: num, target_count: num, reason: str });

/** A `scaling_decisions` row → ScalingDecision. */
export function toScalingDecision(row: unknown): ScalingDecision {
  const r = scalingRowSchema.parse(row);
  return { pool: r.pool, at: r.at, current: r.current_count, target: r.target_count, reason: r.reason };
}
