/** The job domain's data types. Pure data: no database, no HTTP. Times are epoch milliseconds. */
import type { Workflow } from '../comfy/workflow.js';
import type { JobErrorCode } from '../errors.js';

export const JOB_STATUSES = ['queued', 'running', 'completed', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const TERMINAL_STATUSES: readonly JobStatus[] = ['completed', 'failed', 'cancelled'];

/** A ComfyUI API-format prompt (defined with the ComfyUI client, which knows no jobs). */
export type { Workflow };

export interface AccountLimits {
  max_active_jobs_per_user: number;
  max_active_jobs: number;
  submit_rate_per_user: number;
  submit_burst_per_user: number;
}

export const DEFAULT_LIMITS: AccountLimits = Object.freeze({
  max_active_jobs_per_user: 5,
  max_active_jobs: 100,
  submit_rate_per_user: 5,
  submit_burst_per_user: 10,
});

export type JwtAlgorithm = 'RS256' | 'ES256' | 'EdDSA' | 'HS256';

export interface AccountJwtConfig {
  issuer: string;
  audience: string;
  algorithms: JwtAlgorithm[];
  jwks_url?: string | undefined;
  secret?: string | undefined;
}

export interface Account {
  id: string;
  name: string;
  limits: AccountLimits;
  jwt: AccountJwtConfig | null;
  /** Node class_types this account may submit; null means any type the workers know. */
  nodeAllowlist: string[] | null;
  /**
   * Node types whose file inputs pass to ComfyUI unchecked (LoadImageOutput, a model loader with subfolders, ...).
   * Dangerous: such a node can read any file on the GPU host, other tenants' included. Empty by default.
   */
  fileNodeAllowlist: string[];
  /** Pools this account's jobs may name; null means any pool. */
  allowedPools: string[] | null;
  webhookSecret: string;
  /** During a rotation the old secret still signs until this time (both signatures are sent). */
  webhookSecretPrevious: string | null;
  webhookSecretPreviousUntil: number | null;
  createdAt: number;
}

export type ApiKeyScope = 'jobs:write' | 'jobs:read' | 'workflows:raw';
export const ALL_SCOPES: readonly ApiKeyScope[] = ['jobs:write', 'jobs:read', 'workflows:raw'];

export interface ApiKeyRecord {
  id: string;
  accountId: string;
  name: string;
  /** sha256 hex of the full secret key; the key itself is never stored. */
  hash: string;
  scopes: ApiKeyScope[];
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

/** Wire-shaped (snake_case): the same object is relayed by the agent, stored, and shown in the job JSON. */
export interface JobProgress {
  /** Steps done / in all of the node running now (ComfyUI's `progress` frame; 0 of 1 for a node without steps). */
  value: number;
  max: number;
  node: string | null;
  /** The running node's class_type, when the agent knows the prompt. */
  class_type?: string | null | undefined;
  /** 0–1 over the whole prompt: nodes done / nodes to run, weighted by sampler steps (cached nodes count done). */
  fraction?: number | undefined;
}

/** Saved outputs (`output`, e.g. SaveImage) or previews (`temp`, e.g. PreviewImage). */
export type OutputType = 'output' | 'temp';

export interface JobOutput {
  index: number;
  nodeId: string;
  filename: string;
  contentType: string;
  size: number;
  /** Key in object storage. */
  objectKey: string;
  /** Absent on outputs stored before the type was recorded: those are `output`. */
  type?: OutputType | undefined;
}

/** One input ComfyUI (or the submission check) refused. */
export interface JobErrorDetail {
  nodeId: string;
  classType: string | null;
  /** Null when the error is about the node, not one input. */
  input: string | null;
  message: string;
}

export interface JobError {
  code: JobErrorCode;
  message: string;
  nodeId?: string | undefined;
  /** Every node input ComfyUI refused, when it said which (`workflow_invalid` from ComfyUI's validation). */
  details?: JobErrorDetail[] | undefined;
}

/** One named input file. `objectKey` is set once its bytes are in object storage. */
/** One entry of a job's event log (the `job_events` row; SSE sends it as one event). */
export interface JobEvent {
  jobId: string;
  /** Per-job sequence number starting at 1; SSE uses it as the event id. */
  seq: number;
  type: 'status' | 'progress' | 'output' | 'done';
  data: Record<string, unknown>;
  at: number;
}

export interface JobInput {
  name: string;
  url?: string | undefined;
  filename: string;
  contentType?: string | undefined;
  size?: number | undefined;
  objectKey?: string | undefined;
}

export interface Job {
  id: string;
  accountId: string;
  userId: string;
  status: JobStatus;
  priority: number;
  /** The pool whose workers may claim it, resolved at admission (never empty). */
  pool: string;
  cancelRequested: boolean;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  workflow: Workflow;
  templateName: string | null;
  inputs: JobInput[];
  /** False while URL inputs are still being fetched; a job is claimable only when true. */
  inputsReady: boolean;
  webhookUrl: string | null;
  metadata: Record<string, unknown>;
  progress: JobProgress | null;
  outputs: JobOutput[];
  error: JobError | null;
  /** How many times a worker has claimed the job. */
  attempts: number;
  workerId: string | null;
  leaseExpiresAt: number | null;
  idempotencyKey: string | null;
  /** The model files the workflow loads, derived at admission (placement and affinity use them). */
  models: ModelRef[];
}

/** One node input a template parameter writes its value to. */
export interface ParamTarget {
  node: string;
  input: string;
}

export interface TemplateParam {
  name: string;
  /** Node id and input name the value is written to (or `targets`, for several). */
  node?: string | undefined;
  input?: string | undefined;
  /** Every node input the value is written to (e.g. `size` → width and height). */
  targets?: ParamTarget[] | undefined;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'image';
  description?: string | undefined;
  default?: unknown;
  minimum?: number | undefined;
  maximum?: number | undefined;
  enum?: Array<string | number> | undefined;
  max_length?: number | undefined;
  required?: boolean | undefined;
}

export interface Template {
  name: string;
  description: string;
  workflow: Workflow;
  params: TemplateParam[];
  /** The owning account (only it sees and runs the template); null for a global template. */
  accountId: string | null;
  createdAt: number;
  updatedAt: number;
}

/** Seconds between two epoch-ms times, or null when either is missing. */
export function secondsBetween(from: number | null, to: number | null): number | null {
  if (from === null || to === null) return null;
  return Math.max(0, (to - from) / 1000);
}

/** The kinds of model file a job can load (the job JSON's `models[].kind`). */
export const MODEL_KINDS = [
  'checkpoint',
  'lora',
  'vae',
  'clip',
  'unet',
  'controlnet',
  'upscale',
  'other',
] as const;
export type ModelKind = (typeof MODEL_KINDS)[number];

/** One model file a job needs, by its name as the loader's combo lists it (may include a subfolder). */
export interface ModelRef {
  kind: ModelKind;
  name: string;
}
