/**
 * POST /v1/jobs, step by step: rate limit → body rules → template or raw workflow → structural and
 * node-type checks → URL safety → inputs stored under the job id → atomic admission.
 * Each refusal is an ApiError with a stable code; a refused submission leaves nothing behind.
 */
import { createHash } from 'node:crypto';
import { checkFileInputs, fileInputRule } from '../comfy/file-inputs.js';
import { validateInputs } from '../comfy/input-validation.js';
import {
  checkAllowlist,
  checkNodeTypes,
  readWorkflow,
  workflowSizeProblem,
} from '../comfy/workflow-check.js';
import type { Config } from '../config/load.js';
import { convertUiWorkflow } from '../comfy/ui-convert.js';
import { isUiWorkflow } from '../comfy/ui-format.js';
import { ApiError } from '../errors.js';
import { applyTemplate, templateVisibleTo } from '../jobs/templates.js';
import type { Job, JobInput, Workflow } from '../jobs/types.js';
import type { NodeTypeRegistry } from '../jobs/node-type-registry.js';
import { newId } from '../util/ids.js';
import { traceJob } from '../util/job-trace.js';
import { firstUnavailableModel } from '../models/availability.js';
import {
  CORE_LOADERS,
  loaderIndex,
  modelRefs,
  parseLoaderList,
  type LoaderInput,
  type ModelRef,
} from '../models/model-refs.js';
import type { Store } from '../store/contract.js';
import type { JobLifecycle } from '../jobs/lifecycle/job-lifecycle.js';
import type { AdmissionOrigin } from '../jobs/lifecycle/lifecycle-deps.js';
import type { ObjectStorage } from '../media/storage/contract.js';
import type { Principal } from './auth/authenticate.js';
import { requireScope } from './auth/authenticate.js';
import { checkSubmitRate, rateLimited, submitBuckets } from './rate-limit.js';
import type { Upload } from './multipart-submit.js';
import type { CreateJobBody } from './schemas.js';

export const METADATA_MAX_BYTES = 4096;

/** Stores one base64 input under the job; throws ApiError `input_invalid` when it is not a usable image. */
export type StoreBase64Input = (
  jobId: string,
  name: string,
  base64: string,
  filename: string,
) => Promise<JobInput>;
/** Stores one uploaded (multipart) input under the job; same errors as StoreBase64Input. */
export type StoreUploadedInput = (
  jobId: string,
  name: string,
  bytes: Buffer,
  filename: string,
) => Promise<JobInput>;
/** Null when the URL may be fetched later, else why it is refused (decidable without DNS). */
export type CheckUrl = (url: string) => string | null;

export interface SubmitDeps {
  /** Workflow bounds; `modelLoaders`: operator-added loader inputs (`--model-loaders`; core loaders always known). */
  config: Pick<Config, 'maxWorkflowNodes' | 'maxWorkflowLinks'> & {
    readonly modelLoaders?: readonly string[];
  };
  store: Store;
  /** Admission goes through the job lifecycle (it wakes the job's pool). */
  lifecycle: Pick<JobLifecycle, 'admit'>;
  storage: ObjectStorage;
  nodeTypes: NodeTypeRegistry;
  storeBase64Input: StoreBase64Input;
  storeUploadedInput: StoreUploadedInput;
  checkUrl: CheckUrl;
  now: () => number;
  /** The pool of a job that names none; stored with the job, which only this pool's workers claim. */
  defaultPool: string;
  /** Null when `pool` is served (or will be, by the fleet), else the pools that exist. Absent: not checked. */
  unknownPool?: (pool: string) => Promise<string[] | null>;
}

export type SubmitOutcome = { job: Job; replayed: boolean };

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** sha256 of the body in canonical JSON (plus any uploaded files): a replay with reordered keys is the same request. */
export function requestHash(body: unknown, uploads: ReadonlyMap<string, Upload> = new Map()): string {
  const hash = createHash('sha256').update(canonical(body));
  for (const [name, u] of [...uploads.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    hash.update(`\0${name}\0${u.filename}\0`).update(createHash('sha256').update(u.bytes).digest());
  }
  return hash.digest('hex');
}

/** One thing wrong with a workflow, as `invalid` reports it. */
export interface SubmittedWorkflowProblem {
  nodeId: string | null;
  input?: string;
  classType?: string;
  message: string;
}

/**
 * 422 `workflow_invalid` listing every problem; one about an input also names its field path
 * (`workflow.<node>.inputs.<name>`), like validation_failed's `errors[].path`.
 */
export function invalid(problems: readonly SubmittedWorkflowProblem[]): ApiError {
  const nodeIds = [...new Set(problems.map((p) => p.nodeId).filter((id): id is string => id !== null))];
  const first = problems[0]?.message ?? 'invalid workflow';
  return new ApiError(
    'workflow_invalid',
    nodeIds.length > 0 ? `${first} (nodes ${nodeIds.join(', ')})` : first,
    {
      node_ids: nodeIds,
      problems: problems.map((p) => ({
        node_id: p.nodeId,
        ...(p.classType === undefined ? {} : { class_type: p.classType }),
        ...(p.input === undefined ? {} : { input: p.input }),
        ...(p.input === undefined || p.nodeId === null
          ? {}
          : { path: `workflow.${p.nodeId}.inputs.${p.input}` }),
        message: p.message,
      })),
    },
  );
}

/**
 * ComfyUI's input validation (types, required inputs, bounds, combo lists) on the node definitions the workers
 * reported; nothing is checked before a worker has reported them. Inputs in `open` (template params with no
 * value yet) are left for submission.
 */
export function checkInputs(
  nodeTypes: NodeTypeRegistry,
  workflow: Workflow,
  open: ReadonlySet<string> = new Set(),
  modelLoaders: readonly string[] = [],
): SubmittedWorkflowProblem[] {
  const definitions = nodeTypes.definitions();
  if (definitions === null) return [];
  const catalog = nodeTypes.fileInputs();
  const loaders = modelLoaderIndex(modelLoaders);
  // A model name's combo list is one worker's disk: whether a model is there (or registered, and fetched on
  // claim) is jobModels' `model_unavailable`, so no loader input's list is checked here.
  const skipCombo = (c: string, i: string): boolean =>
    fileInputRule(c, i, catalog) !== null || (loaders.get(c)?.some((l) => l.input === i) ?? false);
  return validateInputs(workflow, definitions, skipCombo)
    .filter((p) => !open.has(`${p.nodeId}\0${p.input}`))
    .map((p) => ({ nodeId: p.nodeId, classType: p.classType, input: p.input, message: p.message }));
}

/** The size bounds, checked before any other work on a workflow: every later check is linear, but not free. */
function checkSize(deps: Pick<SubmitDeps, 'config'>, workflow: unknown): void {
  const limits = { maxNodes: deps.config.maxWorkflowNodes, maxLinks: deps.config.maxWorkflowLinks };
  const problem = workflowSizeProblem(workflow, limits);
  if (problem !== null) {
    throw new ApiError('workflow_too_large', `${problem}; split it or ask the operator to raise the limit.`, {
      max_nodes: limits.maxNodes,
      max_links: limits.maxLinks,
    });
  }
}

/**
 * The size bound on a raw body's `workflow`, for the route to run before schema validation: an oversized
 * workflow costs only its JSON parse, not a schema copy of every node.
 */
export function checkSubmittedSize(deps: Pick<SubmitDeps, 'config'>, body: unknown): void {
  if (typeof body === 'object' && body !== null && 'workflow' in body) checkSize(deps, body.workflow);
}

async function resolveWorkflow(
  deps: SubmitDeps,
  principal: Principal,
  body: CreateJobBody,
): Promise<Workflow> {
  if ((body.workflow === undefined) === (body.template === undefined)) {
    throw new ApiError('validation_failed', 'Send exactly one of "workflow" or "template".', {
      errors: [{ path: 'body', message: 'exactly one of workflow or template' }],
    });
  }
  if (body.template !== undefined) {
    const template = await deps.store.getTemplate(body.template);
    // Another account's template does not exist for this one (the same answer, so its name does not leak).
    if (template === null || !templateVisibleTo(template, principal.account.id))
      throw new ApiError('template_not_found', `No template named "${body.template}".`);
    checkSize(deps, template.workflow);
    const applied = applyTemplate(template, body.params ?? {});
    if ('problems' in applied) {
      throw new ApiError('validation_failed', 'Template parameters are invalid.', {
        errors: applied.problems.map((p) => ({ path: `body.${p.path}`, message: p.message })),
      });
    }
    return applied.workflow;
  }
  requireScope(principal, 'workflows:raw');
  if (body.params !== undefined) {
    throw new ApiError('validation_failed', '"params" goes with "template".', {
      errors: [{ path: 'body.params', message: 'only with template' }],
    });
  }
  checkSize(deps, body.workflow);
  const apiFormat = toApiFormat(body.workflow, deps.nodeTypes);
  if (apiFormat !== body.workflow) checkSize(deps, apiFormat);
  const read = readWorkflow(apiFormat);
  if ('problems' in read) throw invalid(read.problems);
  return read.workflow;
}

/**
 * A UI-format export converted with the workers' node definitions; an API-format prompt as it is.
 * Throws 422 workflow_invalid naming the nodes that cannot be converted.
 */
export function toApiFormat(workflow: unknown, nodeTypes: NodeTypeRegistry): unknown {
  if (!isUiWorkflow(workflow)) return workflow;
  const definitions = nodeTypes.definitions();
  if (definitions === null) {
    throw invalid([
      {
        nodeId: null,
        message:
          'This is a UI-format workflow, and no worker has reported its node definitions yet to convert it: ' +
          'retry when a worker is attached, or export the workflow with "Save (API Format)"',
      },
    ]);
  }
  const converted = convertUiWorkflow(workflow, definitions);
  if ('problems' in converted) throw invalid(converted.problems);
  return converted.workflow;
}

function checkRunnable(
  deps: SubmitDeps,
  principal: Principal,
  workflow: Workflow,
  inputNames: Set<string>,
): void {
  const denied = checkAllowlist(workflow, principal.account.nodeAllowlist);
  if (denied.length > 0) {
    throw invalid(
      denied.map((d) => ({ nodeId: d.nodeId, message: `node type ${d.classType} is not allowed` })),
    );
  }
  const known = deps.nodeTypes.known();
  if (known !== null) {
    const unknown = checkNodeTypes(workflow, known);
    if (unknown.length > 0) {
      throw invalid(unknown.map((u) => ({ nodeId: u.nodeId, message: `unknown node type ${u.classType}` })));
    }
  }
  const files = checkFileInputs(workflow, {
    jobInputs: inputNames,
    catalog: deps.nodeTypes.fileInputs(),
    allowlist: new Set(principal.account.fileNodeAllowlist),
    // Whether a model is there is the models module's call (workers of the pool, or the registry: a
    // registered file is fetched): `model_unavailable` below. Here only the name rules apply.
    checkModelLists: false,
  });
  if (files.length > 0) throw invalid(files);
  // After the file-input rules: a security refusal names the rule broken, not a combo list it missed.
  const inputs = checkInputs(deps.nodeTypes, workflow, new Set(), deps.config.modelLoaders);
  if (inputs.length > 0) throw invalid(inputs);
}

/** The loader index of each `--model-loaders` list (the config is frozen): built once, not per submission. */
const loaderIndexes = new WeakMap<object, ReadonlyMap<string, LoaderInput[]>>();
const NO_EXTRA_LOADERS: readonly string[] = [];

/** The loader inputs that name a model file: ComfyUI's core loaders and the operator's `--model-loaders`. */
function modelLoaderIndex(extra: readonly string[] = NO_EXTRA_LOADERS): ReadonlyMap<string, LoaderInput[]> {
  let index = loaderIndexes.get(extra);
  if (index === undefined) {
    index = loaderIndex([...CORE_LOADERS, ...parseLoaderList(extra.join(','))]);
    loaderIndexes.set(extra, index);
  }
  return index;
}

/** The job's model files; refused 422 `model_unavailable` when one is on no worker of its pool nor registered. */
async function jobModels(deps: SubmitDeps, workflow: Workflow, pool: string): Promise<ModelRef[]> {
  const refs = modelRefs(workflow, modelLoaderIndex(deps.config.modelLoaders));
  const missing = await firstUnavailableModel(deps.store, pool, refs);
  if (missing === null) return refs;
  throw new ApiError(
    'model_unavailable',
    `No worker of pool "${pool}" can load the ${missing.kind} "${missing.name}" and it is not in the model registry.`,
    { model: { kind: missing.kind, name: missing.name } },
  );
}

function checkBodyRules(principal: Principal, body: CreateJobBody): void {
  if (body.user_id !== undefined && body.user_id !== principal.userId) {
    throw new ApiError('user_mismatch', 'user_id in the body differs from the acting user.');
  }
  if (body.metadata !== undefined && Buffer.byteLength(JSON.stringify(body.metadata)) > METADATA_MAX_BYTES) {
    throw new ApiError('validation_failed', 'metadata is larger than 4 KiB.', {
      errors: [{ path: 'body.metadata', message: 'at most 4096 bytes of JSON' }],
    });
  }
  const pools = principal.account.allowedPools;
  if (body.pool !== undefined && pools !== null && !pools.includes(body.pool)) {
    throw new ApiError('validation_failed', `This account may not use pool "${body.pool}".`, {
      errors: [{ path: 'body.pool', message: 'not allowed for this account' }],
    });
  }
}

/** A job naming a pool nothing serves would wait forever holding a quota slot: refuse it now. */
async function checkPoolExists(deps: SubmitDeps, body: CreateJobBody): Promise<void> {
  if (body.pool === undefined || deps.unknownPool === undefined) return;
  const pools = await deps.unknownPool(body.pool);
  if (pools === null) return;
  throw new ApiError(
    'pool_unknown',
    `No worker serves pool "${body.pool}" and the fleet defines no such pool; ` +
      (pools.length > 0 ? `pools: ${pools.join(', ')}.` : 'no pools exist; omit "pool".'),
    { pools, errors: [{ path: 'body.pool', message: 'unknown pool' }] },
  );
}

function checkUrls(deps: SubmitDeps, body: CreateJobBody): void {
  const urls: Array<[string, string]> = [];
  for (const [name, input] of Object.entries(body.inputs ?? {})) {
    if ('url' in input) urls.push([`body.inputs.${name}.url`, input.url]);
  }
  if (body.webhook !== undefined) urls.push(['body.webhook.url', body.webhook.url]);
  for (const [path, url] of urls) {
    const reason = deps.checkUrl(url);
    if (reason !== null) throw new ApiError('url_blocked', `${path}: ${reason}`, { field: path });
  }
}

async function storeInputs(
  deps: SubmitDeps,
  jobId: string,
  body: CreateJobBody,
  uploads: ReadonlyMap<string, Upload>,
): Promise<JobInput[]> {
  const inputs: JobInput[] = [];
  for (const [name, u] of uploads)
    inputs.push(await deps.storeUploadedInput(jobId, name, u.bytes, u.filename));
  for (const [name, input] of Object.entries(body.inputs ?? {})) {
    if ('url' in input) {
      const last = new URL(input.url).pathname.split('/').pop() ?? '';
      inputs.push({ name, url: input.url, filename: /^[A-Za-z0-9._-]{1,128}$/.test(last) ? last : name });
    } else {
      inputs.push(await deps.storeBase64Input(jobId, name, input.base64, input.filename));
    }
  }
  return inputs;
}

/**
 * The gate before a submission's body is even read (multipart parts are buffered): the scope, then a read of
 * the user's and the account's submit-rate buckets (the token itself is taken by the admission's commit).
 */
export async function checkMaySubmit(
  deps: Pick<SubmitDeps, 'store' | 'now'>,
  principal: Principal,
): Promise<void> {
  requireScope(principal, 'jobs:write');
  await checkSubmitRate(deps.store, principal.account, principal.userId, deps.now());
}

/** Whether a submission's rate token is settled: taken by its admission's commit, or no token was left. */
export interface TokenSettlement {
  settled: boolean;
}

/**
 * Runs the submission for a principal that passed checkMaySubmit. Its rate token is taken in the admission
 * transaction and `token.settled` says so; a submission refused before that (or by a quota limit, which rolls
 * the admission back) leaves it unsettled, and the route charges it (chargeSubmitRate).
 */
export async function submitJob(
  deps: SubmitDeps,
  principal: Principal,
  body: CreateJobBody,
  idempotencyKey: string | null,
  uploads: ReadonlyMap<string, Upload> = new Map(),
  token: TokenSettlement = { settled: false },
  origin?: AdmissionOrigin,
): Promise<SubmitOutcome> {
  checkBodyRules(principal, body);
  await checkPoolExists(deps, body);
  const named = Object.keys(body.inputs ?? {});
  const clash = named.find((n) => uploads.has(n));
  if (clash !== undefined) {
    throw new ApiError('validation_failed', `Input "${clash}" is both uploaded and listed in "inputs".`, {
      errors: [{ path: `body.inputs.${clash}`, message: 'also uploaded as a file part' }],
    });
  }
  const workflow = await resolveWorkflow(deps, principal, body);
  checkRunnable(deps, principal, workflow, new Set([...named, ...uploads.keys()]));
  checkUrls(deps, body);
  // The job's pool, resolved once: what is stored is what workers claim by and the fleet counts.
  const pool = body.pool ?? deps.defaultPool;
  const models = await jobModels(deps, workflow, pool);
  const jobId = newId('job');
  const inputs = await storeInputs(deps, jobId, body, uploads);
  const result = await deps.lifecycle.admit(
    {
      id: jobId,
      accountId: principal.account.id,
      userId: principal.userId,
      priority: body.priority ?? 0,
      pool,
      workflow,
      templateName: body.template ?? null,
      inputs,
      inputsReady: inputs.every((i) => i.objectKey !== undefined),
      webhookUrl: body.webhook?.url ?? null,
      metadata: body.metadata ?? {},
      idempotencyKey,
      requestHash: idempotencyKey === null ? null : requestHash(body, uploads),
      models,
      rate: submitBuckets(principal.account, principal.userId),
    },
    origin,
  );
  // A quota refusal rolled the whole admission back, its token included; every other answer committed it
  // (or found the bucket empty, so there is nothing left to charge).
  token.settled = result.kind !== 'quota_exceeded';
  if (result.kind !== 'admitted' && inputs.some((i) => i.objectKey !== undefined)) {
    await deps.storage.deletePrefix(`jobs/${jobId}/`).catch(() => 0);
  }
  switch (result.kind) {
    case 'admitted':
      traceJob(jobId, 'admitted');
      return { job: result.job, replayed: false };
    case 'rate_limited':
      throw rateLimited(result.retryAfterMs);
    case 'replayed':
      return { job: result.job, replayed: true };
    case 'idempotency_conflict':
      throw new ApiError(
        'idempotency_conflict',
        'This Idempotency-Key was already used with a different body.',
      );
    case 'quota_exceeded':
      throw new ApiError(
        'quota_exceeded',
        `The ${result.scope === 'user' ? 'per-user' : 'account'} limit of ${result.limit} active jobs is reached; ` +
          'retry when one finishes.',
        { scope: result.scope, limit: result.limit },
        { 'retry-after': '5' },
      );
  }
}
