/**
 * The store contract: every database operation Arrakis performs, in domain verbs.
 * One implementation over Kysely serves SQLite and Postgres; one conformance suite (test/store) runs on both.
 * No connection or transaction type leaks out: each verb is one atomic step.
 * Times are epoch milliseconds; callers pass `now` where a decision depends on the clock so tests can steer it.
 */
import type {
  Account,
  AccountJwtConfig,
  AccountLimits,
  ApiKeyRecord,
  ApiKeyScope,
  Job,
  JobError,
  JobEvent,
  JobInput,
  JobOutput,
  JobProgress,
  JobStatus,
  Template,
  Workflow,
} from '../jobs/types.js';
import type { Coordination, CoordinationOptions } from './coordination.js';
import type { JobView } from '../jobs/public-job.js';
import type { ModelKind, ModelRef } from '../models/model-refs.js';

export interface NewAccount {
  name: string;
  limits: AccountLimits;
  jwt: AccountJwtConfig | null;
  nodeAllowlist: string[] | null;
  /** Node types whose file inputs pass unchecked (docs/security.md); none when absent. */
  fileNodeAllowlist?: string[];
  allowedPools: string[] | null;
  webhookSecret: string;
}

export interface AccountPatch {
  name?: string;
  limits?: AccountLimits;
  jwt?: AccountJwtConfig | null;
  nodeAllowlist?: string[] | null;
  fileNodeAllowlist?: string[];
  allowedPools?: string[] | null;
}

export interface NewApiKey {
  /** The key id is part of the key itself (`ark_<id>_<secret>`), so the caller chooses it. */
  id?: string;
  accountId: string;
  name: string;
  hash: string;
  scopes: ApiKeyScope[];
}

export interface NewJob {
  /** Id chosen by the caller (so inputs can be stored under it before admission); generated when absent. */
  id?: string;
  accountId: string;
  userId: string;
  priority: number;
  /** Concrete: the request's pool, else the default pool (resolved once, at admission). */
  pool: string;
  workflow: Workflow;
  templateName: string | null;
  inputs: JobInput[];
  /** False when some input still has to be fetched from a URL. */
  inputsReady: boolean;
  webhookUrl: string | null;
  metadata: Record<string, unknown>;
  idempotencyKey: string | null;
  /** sha256 of the canonical request body, compared on an idempotent replay. */
  requestHash: string | null;
  /**
   * Submit-rate buckets to take one token from in the admission's own transaction (one commit per submission):
   * taken first, so a replay or an idempotency conflict costs a token as before; an empty bucket answers
   * `rate_limited` and changes nothing. Absent or empty: no rate limit.
   */
  rate?: readonly TokenRequest[];
  /** The model files the workflow loads (absent = none). */
  models?: ModelRef[];
}

export type AdmitResult =
  /**
   * `claimed`: given a ClaimRequest, what that claim took in the admission's own commit (null: nothing it may
   * take, or another job); absent where the store cannot claim inside an admission (Postgres).
   */
  | { kind: 'admitted'; job: Job; claimed?: Claim | null }
  /** One of `NewJob.rate`'s buckets was empty: nothing was taken or inserted. */
  | { kind: 'rate_limited'; retryAfterMs: number }
  | { kind: 'replayed'; job: Job }
  | { kind: 'idempotency_conflict' }
  | { kind: 'quota_exceeded'; scope: 'user' | 'account'; limit: number };

export type CancelResult =
  | { kind: 'cancelled'; job: Job }
  | { kind: 'cancel_requested'; job: Job }
  | { kind: 'finished'; job: Job }
  | { kind: 'not_found' };

/** What a lease renewal tells the worker. */
export type LeaseState = 'held' | 'cancel_requested' | 'lost';

/** The columns that say who holds a job and in which attempt (Store.jobLease). */
export interface JobLease {
  status: JobStatus;
  /** The worker holding (or that last held) the job; null while it was never claimed or after a requeue. */
  workerId: string | null;
  /** Claims so far: a running job's current attempt. */
  attempts: number;
  cancelRequested: boolean;
}

/** A running job's lease made by a named claim (Store.leasesOfClaims). */
export interface ClaimedLease {
  jobId: string;
  leaseExpiresAt: number;
}

/** A job's attempt count and the keys of the outputs it completed with (Store.jobOutputKeys). */
export interface JobOutputKeys {
  status: JobStatus;
  /** Claims so far: a running job's current attempt, a completed job's final one. */
  attempts: number;
  /** The object keys of `outputs` (empty unless the job completed). */
  outputKeys: string[];
}

/**
 * Result of a worker's terminal report: the job as it ended, or `lost` when the worker no longer holds it.
 * `events`: the events the report appended, in seq order, when the verb knows them (a completion's last
 * `progress` when it recorded one, its `output`s and `done`), so the bus message announcing them can carry them
 * to this replica's event streams; the log holds the same rows.
 */
export type FinishResult = { kind: 'finished'; job: Job; events?: readonly JobEvent[] } | { kind: 'lost' };

export interface ListJobsQuery {
  accountId: string;
  userId: string;
  status?: JobStatus | undefined;
  limit: number;
  /** Opaque cursor from a previous page (the last job id seen); newest first. */
  cursor?: string | undefined;
}

export interface Usage {
  activeJobs: number;
  jobsToday: number;
  runSecondsToday: number;
}

export interface PoolUsage {
  pool: string;
  jobs: number;
  runSeconds: number;
}

export interface FleetActivity {
  /** Creation times of the pools' jobs admitted since the given time (oldest first). */
  arrivals: number[];
  /** `account/user` of every user with a queued or running job in the pools. */
  activeUsers: string[];
}

/**
 * The base models (models/model-refs.ts `baseModel`) the fleet's plan reads, counted per model: of queued
 * jobs, and of jobs admitted since a time. Jobs naming no model are left out.
 */
export interface FleetModelDemand {
  /** Queued jobs per base model (by kind, then name). */
  queued: Array<{ model: ModelRef; count: number }>;
  /**
   * Admitted jobs per base model and UTC minute of admission, oldest first: `at` is the latest admission of
   * the group (a reader that asks again from `at + 1` misses none and counts none twice).
   */
  arrivals: Array<{ at: number; model: ModelRef; count: number }>;
}

export interface ExpiredLeaseOutcome {
  jobId: string;
  outcome: 'requeued' | 'failed' | 'cancelled';
}

export interface CounterRepair {
  scope: 'user' | 'account';
  accountId: string;
  userId: string | null;
  was: number;
  now: number;
}

/** A job's event (the log's row): defined beside the job types, so the bus can carry the events a commit wrote. */
export type { JobEvent };

export interface TokenRequest {
  key: string;
  ratePerSecond: number;
  burst: number;
}

export interface RateDecision {
  allowed: boolean;
  /** Milliseconds until a token is available (0 when allowed). */
  retryAfterMs: number;
}

export type WebhookEventType = 'job.completed' | 'job.failed' | 'job.cancelled';

export interface WebhookDelivery {
  /** The Standard Webhooks `webhook-id`: the same on every attempt. */
  id: string;
  accountId: string;
  jobId: string;
  url: string;
  eventType: WebhookEventType;
  payload: Record<string, unknown>;
  status: 'pending' | 'delivered' | 'failed' | 'disabled';
  attempts: number;
  nextAttemptAt: number;
  lastError: string | null;
  createdAt: number;
  deliveredAt: number | null;
}

export interface WebhookAttempt {
  deliveryId: string;
  attempt: number;
  at: number;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

/** A delivery with its attempts, in attempt order (the operator's delivery log). */
export interface WebhookDeliveryLog extends WebhookDelivery {
  attemptLog: WebhookAttempt[];
}

/** A registered worker's own report of what it is doing (the store, the worker API and the admin API share it). */
export const WORKER_STATUSES = [
  'starting',
  'warming',
  'idle',
  'busy',
  'unhealthy',
  'stopping',
  'stopped',
] as const;
export type WorkerStatus = (typeof WORKER_STATUSES)[number];
/**
 * Some of the status words, checked: naming a word WORKER_STATUSES lacks is a type error. The fleet, its
 * simulator and the agents' idle/busy view take their state words from here, so a word cannot drift.
 */
export type WorkerStatusSubset<T extends WorkerStatus> = T;

export interface WorkerRecord {
  id: string;
  name: string;
  pool: string;
  /** `inprocess` agents run inside a serve process; `remote` ones connect in with a worker token. */
  kind: 'inprocess' | 'remote';
  comfyUrl: string | null;
  status: WorkerStatus;
  /** Provider's own handle (process id, Modal sandbox id), for stop and list. */
  providerRef: string | null;
  startedAt: number;
  readyAt: number | null;
  stoppedAt: number | null;
  lastSeenAt: number;
  /** What the agent last reported of its models (absent when writing a record: registration keeps it). */
  models?: WorkerModelState;
}

/** A worker's models as its agent reports them. Names are file names as ComfyUI's loader combos list them. */
export interface WorkerModelState {
  /** False until the agent reports: such a worker may be given any job, as before models were known. */
  known: boolean;
  /** Files its ComfyUI can load (its loaders' file lists). */
  available: string[];
  /** Files resident in its ComfyUI (loaded by a recent job and still cached). */
  warm: string[];
  /** Files in the agent's model cache on its disk. */
  onDisk: string[];
  /** The agent has a model cache: it fetches registered files it lacks before running a job. */
  canFetch: boolean;
  /** Model loads after its first. */
  switches: number;
  /** Files the fleet asked it to fetch onto its disk while idle (cleared as they arrive). */
  prefetch: ModelRef[];
}

/** A registered model file: where a worker's model cache fetches it from and how it is checked. */
export interface ModelFile {
  name: string;
  kind: ModelKind;
  /** `s3://…`, `https://…` or `http://…`: trusted operator configuration. */
  url: string;
  /** Lower-case hex sha256 of the file. */
  sha256: string;
  size: number;
  createdAt: number;
}

/** A claimed job and the file-node allowlist of its account, read with the claim (Store.claimJob). */
export interface Claim {
  job: Job;
  fileNodeAllowlist: string[];
}

/** A claim to make inside an admission's transaction (Store.admitJob): a worker of this process waits for work. */
export interface ClaimRequest {
  workerId: string;
  pool: string;
  leaseMs: number;
  options: ClaimOptions;
}

/** Options of a claim beyond who and where. */
export interface ClaimOptions {
  /** How long bounded affinity may pass over the fair pick, in ms; 0 (the default) = plain fair order. */
  affinityMaxDelayMs?: number;
  /**
   * The id the worker gave this claim (a remote agent names each one), recorded with the lease it makes: a later
   * claim that lists it as lost gives back exactly that lease (Store.leasesOfClaims). None: recorded as null.
   */
  claimId?: string;
}

export interface WorkerToken {
  id: string;
  name: string;
  pool: string;
  hash: string;
  createdAt: number;
  revokedAt: number | null;
}

export interface ScalingDecision {
  pool: string;
  at: number;
  current: number;
  target: number;
  reason: string;
}

export interface Store {
  /** Applies pending migrations (safe when several processes call it at once); returns the names applied. */
  migrate(): Promise<string[]>;
  /** True when the database answers and every migration is applied. */
  isReady(): Promise<boolean>;
  close(): Promise<void>;
  /**
   * The event bus and leader election among the processes sharing this database, chosen by the dialect
   * (see coordination.ts). Opened on the first call, the same one after; `close()` closes it.
   */
  coordination(options?: CoordinationOptions): Promise<Coordination>;

  // Accounts and keys
  createAccount(input: NewAccount, now: number): Promise<Account>;
  getAccount(id: string): Promise<Account | null>;
  listAccounts(): Promise<Account[]>;
  updateAccount(id: string, patch: AccountPatch): Promise<Account | null>;
  /** Makes `secret` current; the old one keeps signing until `previousUntil`. */
  rotateWebhookSecret(accountId: string, secret: string, previousUntil: number): Promise<Account | null>;
  createApiKey(input: NewApiKey, now: number): Promise<ApiKeyRecord>;
  getApiKey(id: string): Promise<ApiKeyRecord | null>;
  listApiKeys(accountId: string): Promise<ApiKeyRecord[]>;
  /** Returns false when the key does not exist or was already revoked. */
  revokeApiKey(id: string, now: number): Promise<boolean>;
  /** Records use; implementations may skip the write when the stored value is under a minute old. */
  touchApiKey(id: string, now: number): Promise<void>;

  // Jobs: admission and reads
  /**
   * Admits a job atomically: the idempotency check, the per-user and per-account active-job counters
   * (incremented only while below the account's limits) and the insert happen in one transaction.
   * A rejected admission changes nothing.
   *
   * With `claimFor` (a worker of this process waiting for work; only where `claimsInAdmission`), that claim runs
   * in the same transaction right after an admission whose inputs are ready, as claimJob would run it next (the
   * same fair pick: it may take an older job, or none): one commit instead of two. A claim that fails there is
   * undone alone (a savepoint) and answered null: it never fails the submission. The answer's `job` is the job as
   * admitted (queued); `claimed` says what the same commit did next.
   */
  admitJob(input: NewJob, now: number, claimFor?: ClaimRequest): Promise<AdmitResult>;
  /**
   * Whether admitJob makes a `claimFor` claim in the admission's transaction (SQLite). Postgres does not: one
   * statement admitting and claiming would hold the admitting user's and account's rows while it locks the
   * claimed job's, and two such statements could deadlock.
   */
  readonly claimsInAdmission: boolean;
  getJob(id: string): Promise<Job | null>;
  /** The job only when it belongs to this account and user (ownership is part of the lookup). */
  getJobFor(accountId: string, userId: string, id: string): Promise<Job | null>;
  /** As getJobFor, with only what the public JSON shows (the hot read: no workflow or inputs parsed). */
  getJobViewFor(accountId: string, userId: string, id: string): Promise<JobView | null>;
  /** As getJobViewFor, the status alone (an event stream's open). */
  jobStatusFor(accountId: string, userId: string, id: string): Promise<JobStatus | null>;
  /** As getJobViewFor, the outputs alone (an output download). */
  jobOutputsFor(accountId: string, userId: string, id: string): Promise<JobOutput[] | null>;
  listJobs(query: ListJobsQuery): Promise<{ jobs: Job[]; nextCursor: string | null }>;
  usage(accountId: string, userId: string, dayStart: number): Promise<Usage>;
  /** An account's jobs that ended since `since`, with their run time, per pool (cost attribution). */
  accountUsage(accountId: string, since: number): Promise<PoolUsage[]>;
  /** Active jobs per status (queued, running; terminal statuses read 0), optionally for one pool. */
  countJobsByStatus(pool?: string): Promise<Record<JobStatus, number>>;
  /**
   * Gives every job stored without a pool (written before pools were resolved at admission) the pool `pool`
   * (the operator's default pool). Idempotent; returns how many jobs it changed.
   */
  adoptUnpooledJobs(pool: string): Promise<number>;

  // Inputs fetched after admission
  /** Takes up to `limit` jobs whose URL inputs need fetching, leasing them to `owner` for `leaseMs`. */
  claimInputFetches(owner: string, limit: number, leaseMs: number, now: number): Promise<Job[]>;
  /** Stores the fetched inputs and makes the job claimable. No-op unless the job is still queued. */
  markInputsReady(jobId: string, inputs: JobInput[]): Promise<boolean>;
  /** queued → failed (input fetch failed): releases counters and enqueues the webhook in the same step. */
  failQueuedJob(jobId: string, error: JobError, now: number): Promise<Job | null>;

  // Claims and leases
  /**
   * Claims the next queued, inputs-ready job for `workerId` fairly: users with the fewest running jobs first,
   * then higher priority, then older, among the jobs of `pool` only (every job has a concrete pool, resolved
   * at admission). queued → running, attempts + 1, lease until now + leaseMs.
   */
  claimNext(
    workerId: string,
    pool: string,
    leaseMs: number,
    now: number,
    options?: ClaimOptions,
  ): Promise<Job | null>;
  /**
   * claimNext, with what the run needs of the job's account read in the claim's own statement (Postgres) or
   * transaction (SQLite): its file-node allowlist as it stands at the claim, so a revocation holds from the
   * next claim on. What workers claim through (WorkerService); claimNext is its job alone.
   */
  claimJob(
    workerId: string,
    pool: string,
    leaseMs: number,
    now: number,
    options?: ClaimOptions,
  ): Promise<Claim | null>;
  /**
   * Who holds the job and in which attempt, or null when it does not exist: the check before a worker's upload,
   * reading those columns only (no workflow or inputs parsed). Changes nothing, not even the lease's expiry.
   */
  jobLease(jobId: string): Promise<JobLease | null>;
  /**
   * The ids of the running jobs whose lease `workerId` holds, oldest claim first: what a worker whose claim
   * answer never reached it was leased (it runs one job at a time and claims only when it holds none).
   */
  jobsHeldBy(workerId: string): Promise<string[]>;
  /**
   * The running jobs `workerId` holds under a lease made by one of the claims `claimIds` (ClaimOptions.claimId),
   * each with its lease's expiry as read: the jobs of claims whose answer never reached the worker, to give
   * back in a compare-and-set on that expiry. Empty for an empty list.
   */
  leasesOfClaims(workerId: string, claimIds: readonly string[]): Promise<ClaimedLease[]>;
  /**
   * The job's status, attempts and output keys, or null when it does not exist: what deciding which attempts'
   * files are orphans needs, reading those columns only (no workflow or inputs parsed).
   */
  jobOutputKeys(jobId: string): Promise<JobOutputKeys | null>;
  /** Extends the lease while the worker still holds the job. */
  renewLease(jobId: string, workerId: string, leaseMs: number, now: number): Promise<LeaseState>;
  /**
   * Records progress while the worker holds the job, with its `progress` event, in one commit. Returns false
   * (and appends nothing) when the worker no longer holds it.
   */
  updateProgress(jobId: string, workerId: string, progress: JobProgress, now: number): Promise<boolean>;
  /**
   * running → completed (or → cancelled when a cancel was accepted first: a cancelled job never completes).
   * Appends one `output` event per output (in order) and then `done`, releases counters and enqueues the
   * webhook, all in the same step; a job that ends cancelled gets no `output` event. `progress`, the run's last
   * progress not yet reported, is recorded first as updateProgress would (its event before the outputs'), in the
   * same commit (on Postgres in the same statement, migration 013), unless the job's progress is already that
   * one (a retried completion whose first try recorded it adds no second event); a lost completion records none.
   */
  completeJob(
    jobId: string,
    workerId: string,
    outputs: JobOutput[],
    now: number,
    progress?: JobProgress,
  ): Promise<FinishResult>;
  /** running → failed (→ cancelled when cancel was requested). Releases counters, enqueues the webhook. */
  failJob(jobId: string, workerId: string, error: JobError, now: number): Promise<FinishResult>;
  /** running + cancel_requested → cancelled, once the worker has stopped the prompt. */
  finishCancel(jobId: string, workerId: string, now: number): Promise<FinishResult>;
  /**
   * The worker gives the job back (its ComfyUI died or restarted): → queued for another worker while its
   * counted attempts (claims less voluntary releases) < maxAttempts, else → failed `worker_lost`; → cancelled
   * when cancel was requested.
   */
  releaseJob(
    jobId: string,
    workerId: string,
    maxAttempts: number,
    reason: string,
    now: number,
    /**
     * The worker gave it back for its own reasons (shutting down): this attempt is not counted against
     * maxAttempts. Its number is not given back: the next claim counts one more, as after any release.
     */
    voluntary?: boolean,
    /** Only a lease that began before this time (ms): a later claim's lease of the same worker stays (`lost`). */
    startedBefore?: number,
    /**
     * Only a lease whose `lease_expires_at` is still this value: one renewed (heartbeat) or claimed again since
     * the caller read it stays (`lost`).
     */
    leaseExpiresAt?: number,
  ): Promise<FinishResult>;
  /**
   * Every running job whose lease expired before `now`: requeued once per expiry while counted attempts < maxAttempts,
   * else failed `worker_lost`; cancel-requested ones end cancelled. Compare-and-set on the expired lease,
   * so two replicas sweeping at once requeue each job once.
   */
  expireLeases(maxAttempts: number, now: number): Promise<ExpiredLeaseOutcome[]>;

  // Cancel
  /** queued → cancelled at once; running → cancel_requested; terminal → finished. Ownership checked. */
  requestCancel(accountId: string, userId: string, jobId: string, now: number): Promise<CancelResult>;

  // Counters
  /** Recounts active jobs per user and account from the jobs table and repairs drift. */
  reconcileCounters(): Promise<CounterRepair[]>;

  // Job events (SSE, resumable by seq)
  appendJobEvent(
    jobId: string,
    type: JobEvent['type'],
    data: Record<string, unknown>,
    now: number,
  ): Promise<JobEvent>;
  listJobEvents(jobId: string, afterSeq: number): Promise<JobEvent[]>;
  /**
   * The seq of each job's last event (0 before its first), by id, for any number of ids (looked up in slices);
   * an id that names no job is absent. Every event insert takes its seq from this counter in its own
   * transaction, so a stream that sent up to this seq has read the whole log.
   */
  jobEventSeqs(jobIds: readonly string[]): Promise<Map<string, number>>;

  // Rate limits (token buckets shared by every replica)
  /** Takes one token from every bucket in one step, or none when any is empty (retry after the longest wait). */
  takeTokens(requests: readonly TokenRequest[], now: number): Promise<RateDecision>;
  /** Whether every bucket holds a token now, without taking one (a read: an early refusal, never a grant). */
  peekTokens(requests: readonly TokenRequest[], now: number): Promise<RateDecision>;

  // Templates
  upsertTemplate(t: Omit<Template, 'createdAt' | 'updatedAt'>, now: number): Promise<Template>;
  getTemplate(name: string): Promise<Template | null>;
  listTemplates(): Promise<Template[]>;
  deleteTemplate(name: string): Promise<boolean>;

  // Webhooks (rows are enqueued by the terminal transitions above, in the same transaction)
  /** Leases up to `limit` pending deliveries whose next attempt is due. */
  claimDueWebhooks(owner: string, limit: number, leaseMs: number, now: number): Promise<WebhookDelivery[]>;
  /** Records one attempt; `next` null ends the delivery as `status`. */
  recordWebhookAttempt(
    attempt: WebhookAttempt,
    next: { status: 'pending'; nextAttemptAt: number } | { status: 'delivered' | 'failed' | 'disabled' },
  ): Promise<void>;
  /** After a 410: every pending delivery of this account to this URL ends `disabled`, and so do later ones. */
  disableWebhookEndpoint(accountId: string, url: string, now: number): Promise<void>;
  isWebhookEndpointDisabled(accountId: string, url: string): Promise<boolean>;
  listWebhookDeliveries(filter: {
    accountId?: string;
    jobId?: string;
    limit: number;
  }): Promise<WebhookDelivery[]>;
  listWebhookAttempts(deliveryId: string): Promise<WebhookAttempt[]>;
  /** Deliveries as listWebhookDeliveries returns them, each with its attempts: two queries, not one per delivery. */
  listWebhookDeliveryLog(filter: {
    accountId?: string;
    jobId?: string;
    limit: number;
  }): Promise<WebhookDeliveryLog[]>;

  // Workers and fleet
  upsertWorker(w: WorkerRecord): Promise<void>;
  setWorkerStatus(id: string, status: WorkerStatus, now: number): Promise<void>;
  getWorker(id: string): Promise<WorkerRecord | null>;
  listWorkers(filter?: { pool?: string; includeStopped?: boolean }): Promise<WorkerRecord[]>;
  createWorkerToken(t: Omit<WorkerToken, 'createdAt' | 'revokedAt'>, now: number): Promise<WorkerToken>;
  getWorkerToken(id: string): Promise<WorkerToken | null>;
  revokeWorkerToken(id: string, now: number): Promise<boolean>;
  /** Every worker token, revoked ones included, oldest first (no secrets: hashes only). */
  listWorkerTokens(): Promise<WorkerToken[]>;
  /** Records the worker's reported models (and stamps last_seen_at). */
  setWorkerModels(
    id: string,
    state: Omit<WorkerModelState, 'known' | 'prefetch'>,
    now: number,
  ): Promise<void>;
  /** Replaces the files the worker is asked to fetch onto its disk while idle. */
  setWorkerPrefetch(id: string, refs: readonly ModelRef[]): Promise<void>;
  /**
   * The prefetch files the worker's agent reports it gave up on (replacing its earlier list): a name already
   * listed keeps the time it was first refused, a new one is refused from `now`; rows refused before
   * `expiredBefore` (any worker's) are dropped.
   */
  setPrefetchRefused(id: string, names: readonly string[], now: number, expiredBefore: number): Promise<void>;
  /** Per worker (of `ids`), the prefetch files refused at or after `since`, by name (UTF-8 byte order). */
  listPrefetchRefused(ids: readonly string[], since: number): Promise<Map<string, string[]>>;

  // Model registry
  /** Registers a model file; false when the name is taken (nothing changes). */
  createModelFile(m: Omit<ModelFile, 'createdAt'>, now: number): Promise<boolean>;
  getModelFile(name: string): Promise<ModelFile | null>;
  /**
   * The registered files among `names` (any number: looked up in slices), sorted by name; all of them when
   * `names` is absent.
   */
  listModelFiles(names?: readonly string[]): Promise<ModelFile[]>;
  deleteModelFile(name: string): Promise<boolean>;
  recordScalingDecision(d: ScalingDecision): Promise<void>;
  /** Arrivals since `createdSince` and active users of the jobs of `pools`, for the autoscaler. */
  fleetActivity(pools: readonly string[], createdSince: number): Promise<FleetActivity>;
  listScalingDecisions(pool: string | null, limit: number): Promise<ScalingDecision[]>;
  /** Models of the pools' queued jobs and of jobs admitted since `createdSince`. */
  fleetModelDemand(pools: readonly string[], createdSince: number): Promise<FleetModelDemand>;

  // Retention
  /** Jobs finished before `before` whose objects have not been swept yet (oldest first). */
  listJobsForSweep(before: number, limit: number): Promise<Job[]>;
  /** Marks the job's stored objects as deleted (outputs keep their metadata, lose their bytes). */
  markJobSwept(jobId: string, now: number): Promise<void>;
}
