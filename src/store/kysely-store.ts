/**
 * The one Store implementation, over Kysely, for SQLite and Postgres alike. Each verb lives in a
 * module under verbs/ named by its domain; this class only wires them to one StoreContext.
 */
import type { Kysely } from 'kysely';
import type { JobView } from '../jobs/public-job.js';
import type {
  Account,
  ApiKeyRecord,
  Job,
  JobError,
  JobInput,
  JobOutput,
  JobProgress,
  JobStatus,
  Template,
} from '../jobs/types.js';
import type { ModelRef } from '../models/model-refs.js';
import type { Capabilities } from './capabilities.js';
import type * as C from './contract.js';
import type { Conn, StoreContext } from './context.js';
import { BucketMirror } from './bucket-mirror.js';
import type { DirectSql } from './direct.js';
import { localCoordination, type Coordination, type CoordinationOptions } from './coordination.js';
import type { JobSql } from './job-sql.js';
import { applyMigrations, migrationsComplete, type MigrateOptions } from './migrator.js';
import type { DatabaseSchema } from './schema.js';
import * as accounts from './verbs/accounts.js';
import { admitJob } from './verbs/admission.js';
import { claimJob, renewLease, updateProgress } from './verbs/claims.js';
import { reconcileCounters } from './verbs/counters.js';
import * as fleet from './verbs/fleet.js';
import * as models from './verbs/models.js';
import { claimInputFetches, markInputsReady } from './verbs/input-fetches.js';
import { appendJobEvent, jobEventSeqs, listJobEvents } from './verbs/job-events.js';
import * as reads from './verbs/job-reads.js';
import { peekTokens, takeTokens } from './verbs/rate-buckets.js';
import { fleetActivity } from './verbs/fleet-activity.js';
import { adoptUnpooledJobs } from './verbs/pools.js';
import { fleetModelDemand } from './verbs/fleet-model-demand.js';
import { listJobsForSweep, markJobSwept } from './verbs/retention.js';
import * as templates from './verbs/templates.js';
import * as tr from './verbs/transitions.js';
import * as webhooks from './verbs/webhooks.js';

type ClosableCoordination = Coordination & { close(): Promise<void> };
/** Opens coordination shared with other processes through the database itself. */
export type SharedCoordination = (db: Conn, options: CoordinationOptions) => Promise<ClosableCoordination>;
const noShared: SharedCoordination = () =>
  Promise.reject(new Error('this database has no shared coordination'));

export class KyselyStore implements C.Store {
  readonly #ctx: StoreContext;

  readonly #shared: SharedCoordination;
  readonly #migrationDb: (() => Kysely<DatabaseSchema>) | undefined;
  readonly #migrateOptions: MigrateOptions;
  #coordination: Promise<ClosableCoordination> | null = null;

  /**
   * `shared` opens the dialect's cross-process coordination (used when `caps.crossProcess`); `direct` runs the
   * hot verbs' statements synchronously where the dialect runs them in-process (direct.ts). `migrationDb`
   * opens a database handle of its own for `migrate()`, one without the query timeout of `db` (a migration may
   * run long, or wait for another process's); without it migrations run on `db`. `migrateOptions` tunes
   * how migrations wait for locks (migrator.ts).
   */
  /** A plain field, not a getter: a store wrapped in a Proxy (tests, decorators) reads it like its verbs. */
  readonly claimsInAdmission: boolean;

  constructor(
    db: Kysely<DatabaseSchema>,
    caps: Capabilities,
    sql: JobSql,
    shared: SharedCoordination = noShared,
    direct?: DirectSql,
    migrationDb?: () => Kysely<DatabaseSchema>,
    migrateOptions: MigrateOptions = {},
  ) {
    const buckets = new BucketMirror();
    this.#ctx = direct === undefined ? { db, caps, sql, buckets } : { db, caps, sql, direct, buckets };
    this.claimsInAdmission = !caps.serverFunctions;
    this.#shared = shared;
    this.#migrationDb = migrationDb;
    this.#migrateOptions = migrateOptions;
  }

  migrate = async (): Promise<string[]> => {
    if (this.#migrationDb === undefined) {
      return await applyMigrations(this.#ctx, Date.now(), this.#migrateOptions);
    }
    const db = this.#migrationDb();
    try {
      return await applyMigrations({ ...this.#ctx, db }, Date.now(), this.#migrateOptions);
    } finally {
      await db.destroy();
    }
  };
  isReady = (): Promise<boolean> => migrationsComplete(this.#ctx);
  async close(): Promise<void> {
    const coordination = this.#coordination;
    this.#coordination = null;
    await coordination?.then((c) => c.close()).catch(() => {});
    await this.#ctx.db.destroy();
  }
  /** Several processes may share the database: the dialect's shared coordination; else one in-process. */
  coordination(options: CoordinationOptions = {}): Promise<Coordination> {
    if (this.#coordination !== null) return this.#coordination;
    const opening = this.#ctx.caps.crossProcess
      ? this.#shared(this.#ctx.db, options)
      : Promise.resolve(localCoordination());
    this.#coordination = opening;
    // A failed open is not cached: the caller may try again once the database answers.
    opening.catch(() => {
      if (this.#coordination === opening) this.#coordination = null;
    });
    return opening;
  }

  createAccount = (input: C.NewAccount, now: number): Promise<Account> =>
    accounts.createAccount(this.#ctx, input, now);
  getAccount = (id: string): Promise<Account | null> => accounts.getAccount(this.#ctx, id);
  listAccounts = (): Promise<Account[]> => accounts.listAccounts(this.#ctx);
  updateAccount = (id: string, patch: C.AccountPatch): Promise<Account | null> =>
    accounts.updateAccount(this.#ctx, id, patch);
  rotateWebhookSecret = (accountId: string, secret: string, previousUntil: number): Promise<Account | null> =>
    accounts.rotateWebhookSecret(this.#ctx, accountId, secret, previousUntil);
  createApiKey = (input: C.NewApiKey, now: number): Promise<ApiKeyRecord> =>
    accounts.createApiKey(this.#ctx, input, now);
  getApiKey = (id: string): Promise<ApiKeyRecord | null> => accounts.getApiKey(this.#ctx, id);
  listApiKeys = (accountId: string): Promise<ApiKeyRecord[]> => accounts.listApiKeys(this.#ctx, accountId);
  revokeApiKey = (id: string, now: number): Promise<boolean> => accounts.revokeApiKey(this.#ctx, id, now);
  touchApiKey = (id: string, now: number): Promise<void> => accounts.touchApiKey(this.#ctx, id, now);

  admitJob = (input: C.NewJob, now: number, claimFor?: C.ClaimRequest): Promise<C.AdmitResult> =>
    admitJob(this.#ctx, input, now, claimFor);
  getJob = (id: string): Promise<Job | null> => reads.getJob(this.#ctx, id);
  getJobFor = (accountId: string, userId: string, id: string): Promise<Job | null> =>
    reads.getJobFor(this.#ctx, accountId, userId, id);
  getJobViewFor = (accountId: string, userId: string, id: string): Promise<JobView | null> =>
    reads.getJobViewFor(this.#ctx, accountId, userId, id);
  jobStatusFor = (accountId: string, userId: string, id: string): Promise<JobStatus | null> =>
    reads.jobStatusFor(this.#ctx, accountId, userId, id);
  jobOutputsFor = (accountId: string, userId: string, id: string): Promise<JobOutput[] | null> =>
    reads.jobOutputsFor(this.#ctx, accountId, userId, id);
  listJobs = (query: C.ListJobsQuery): Promise<{ jobs: Job[]; nextCursor: string | null }> =>
    reads.listJobs(this.#ctx, query);
  usage = (accountId: string, userId: string, dayStart: number): Promise<C.Usage> =>
    reads.usage(this.#ctx, accountId, userId, dayStart);
  accountUsage = (accountId: string, since: number): Promise<C.PoolUsage[]> =>
    reads.accountUsage(this.#ctx, accountId, since);
  countJobsByStatus = (pool?: string): Promise<Record<JobStatus, number>> =>
    reads.countJobsByStatus(this.#ctx, pool);
  adoptUnpooledJobs = (pool: string): Promise<number> => adoptUnpooledJobs(this.#ctx, pool);

  claimInputFetches = (owner: string, limit: number, leaseMs: number, now: number): Promise<Job[]> =>
    claimInputFetches(this.#ctx, owner, limit, leaseMs, now);
  markInputsReady = (jobId: string, inputs: JobInput[]): Promise<boolean> =>
    markInputsReady(this.#ctx, jobId, inputs);
  failQueuedJob = (jobId: string, error: JobError, now: number): Promise<Job | null> =>
    tr.failQueuedJob(this.#ctx, jobId, error, now);

  claimNext = (
    workerId: string,
    pool: string,
    leaseMs: number,
    now: number,
    options?: C.ClaimOptions,
  ): Promise<Job | null> =>
    claimJob(this.#ctx, workerId, pool, leaseMs, now, options).then((c) => c?.job ?? null);
  claimJob = (
    workerId: string,
    pool: string,
    leaseMs: number,
    now: number,
    options?: C.ClaimOptions,
  ): Promise<C.Claim | null> => claimJob(this.#ctx, workerId, pool, leaseMs, now, options);
  jobLease = (jobId: string): Promise<C.JobLease | null> => reads.jobLease(this.#ctx, jobId);
  jobOutputKeys = (jobId: string): Promise<C.JobOutputKeys | null> => reads.jobOutputKeys(this.#ctx, jobId);
  jobsHeldBy = (workerId: string): Promise<string[]> => reads.jobsHeldBy(this.#ctx, workerId);
  leasesOfClaims = (workerId: string, claimIds: readonly string[]): Promise<C.ClaimedLease[]> =>
    reads.leasesOfClaims(this.#ctx, workerId, claimIds);
  renewLease = (jobId: string, workerId: string, leaseMs: number, now: number): Promise<C.LeaseState> =>
    renewLease(this.#ctx, jobId, workerId, leaseMs, now);
  updateProgress = (jobId: string, workerId: string, progress: JobProgress, now: number): Promise<boolean> =>
    updateProgress(this.#ctx, jobId, workerId, progress, now);
  completeJob = (
    jobId: string,
    workerId: string,
    outputs: JobOutput[],
    now: number,
    progress?: JobProgress,
  ): Promise<C.FinishResult> =>
    tr.finishRunning(this.#ctx, jobId, workerId, { status: 'completed', outputs }, now, progress);
  failJob = (jobId: string, workerId: string, error: JobError, now: number): Promise<C.FinishResult> =>
    tr.finishRunning(this.#ctx, jobId, workerId, { status: 'failed', error }, now);
  finishCancel = (jobId: string, workerId: string, now: number): Promise<C.FinishResult> =>
    tr.finishCancel(this.#ctx, jobId, workerId, now);
  releaseJob = (
    jobId: string,
    workerId: string,
    maxAttempts: number,
    reason: string,
    now: number,
    voluntary?: boolean,
    startedBefore?: number,
    leaseExpiresAt?: number,
  ): Promise<C.FinishResult> =>
    tr.releaseJob(
      this.#ctx,
      jobId,
      workerId,
      maxAttempts,
      reason,
      now,
      voluntary,
      startedBefore,
      leaseExpiresAt,
    );
  expireLeases = (maxAttempts: number, now: number): Promise<C.ExpiredLeaseOutcome[]> =>
    tr.expireLeases(this.#ctx, maxAttempts, now);

  requestCancel = (accountId: string, userId: string, jobId: string, now: number): Promise<C.CancelResult> =>
    tr.requestCancel(this.#ctx, accountId, userId, jobId, now);
  reconcileCounters = (): Promise<C.CounterRepair[]> => reconcileCounters(this.#ctx);

  appendJobEvent = (
    jobId: string,
    type: C.JobEvent['type'],
    data: Record<string, unknown>,
    now: number,
  ): Promise<C.JobEvent> => appendJobEvent(this.#ctx, jobId, type, data, now);
  listJobEvents = (jobId: string, afterSeq: number): Promise<C.JobEvent[]> =>
    listJobEvents(this.#ctx, jobId, afterSeq);
  jobEventSeqs = (jobIds: readonly string[]): Promise<Map<string, number>> => jobEventSeqs(this.#ctx, jobIds);

  fleetActivity = (pools: readonly string[], createdSince: number): Promise<C.FleetActivity> =>
    fleetActivity(this.#ctx, pools, createdSince);
  fleetModelDemand = (pools: readonly string[], createdSince: number): Promise<C.FleetModelDemand> =>
    fleetModelDemand(this.#ctx, pools, createdSince);
  takeTokens = (requests: readonly C.TokenRequest[], now: number): Promise<C.RateDecision> =>
    takeTokens(this.#ctx, requests, now);
  peekTokens = (requests: readonly C.TokenRequest[], now: number): Promise<C.RateDecision> =>
    peekTokens(this.#ctx, requests, now);

  upsertTemplate = (t: Omit<Template, 'createdAt' | 'updatedAt'>, now: number): Promise<Template> =>
    templates.upsertTemplate(this.#ctx, t, now);
  getTemplate = (name: string): Promise<Template | null> => templates.getTemplate(this.#ctx, name);
  listTemplates = (): Promise<Template[]> => templates.listTemplates(this.#ctx);
  deleteTemplate = (name: string): Promise<boolean> => templates.deleteTemplate(this.#ctx, name);

  claimDueWebhooks = (
    owner: string,
    limit: number,
    leaseMs: number,
    now: number,
  ): Promise<C.WebhookDelivery[]> => webhooks.claimDueWebhooks(this.#ctx, owner, limit, leaseMs, now);
  recordWebhookAttempt = (
    attempt: C.WebhookAttempt,
    next: { status: 'pending'; nextAttemptAt: number } | { status: 'delivered' | 'failed' | 'disabled' },
  ): Promise<void> => webhooks.recordWebhookAttempt(this.#ctx, attempt, next);
  disableWebhookEndpoint = (accountId: string, url: string, now: number): Promise<void> =>
    webhooks.disableWebhookEndpoint(this.#ctx, accountId, url, now);
  isWebhookEndpointDisabled = (accountId: string, url: string): Promise<boolean> =>
    webhooks.isWebhookEndpointDisabled(this.#ctx, accountId, url);
  listWebhookDeliveries = (filter: {
    accountId?: string;
    jobId?: string;
    limit: number;
  }): Promise<C.WebhookDelivery[]> => webhooks.listWebhookDeliveries(this.#ctx, filter);
  listWebhookAttempts = (deliveryId: string): Promise<C.WebhookAttempt[]> =>
    webhooks.listWebhookAttempts(this.#ctx, deliveryId);
  listWebhookDeliveryLog = (filter: {
    accountId?: string;
    jobId?: string;
    limit: number;
  }): Promise<C.WebhookDeliveryLog[]> => webhooks.listWebhookDeliveryLog(this.#ctx, filter);

  upsertWorker = (w: C.WorkerRecord): Promise<void> => fleet.upsertWorker(this.#ctx, w);
  setWorkerStatus = (id: string, status: C.WorkerStatus, now: number): Promise<void> =>
    fleet.setWorkerStatus(this.#ctx, id, status, now);
  getWorker = (id: string): Promise<C.WorkerRecord | null> => fleet.getWorker(this.#ctx, id);
  listWorkers = (filter?: { pool?: string; includeStopped?: boolean }): Promise<C.WorkerRecord[]> =>
    fleet.listWorkers(this.#ctx, filter);
  createWorkerToken = (
    t: Omit<C.WorkerToken, 'createdAt' | 'revokedAt'>,
    now: number,
  ): Promise<C.WorkerToken> => fleet.createWorkerToken(this.#ctx, t, now);
  getWorkerToken = (id: string): Promise<C.WorkerToken | null> => fleet.getWorkerToken(this.#ctx, id);
  revokeWorkerToken = (id: string, now: number): Promise<boolean> =>
    fleet.revokeWorkerToken(this.#ctx, id, now);
  listWorkerTokens = (): Promise<C.WorkerToken[]> => fleet.listWorkerTokens(this.#ctx);
  setWorkerModels = (
    id: string,
    state: Omit<C.WorkerModelState, 'known' | 'prefetch'>,
    now: number,
  ): Promise<void> => models.setWorkerModels(this.#ctx, id, state, now);
  setWorkerPrefetch = (id: string, refs: readonly ModelRef[]): Promise<void> =>
    models.setWorkerPrefetch(this.#ctx, id, refs);
  setPrefetchRefused = (
    id: string,
    names: readonly string[],
    now: number,
    expiredBefore: number,
  ): Promise<void> => models.setPrefetchRefused(this.#ctx, id, names, now, expiredBefore);
  listPrefetchRefused = (ids: readonly string[], since: number): Promise<Map<string, string[]>> =>
    models.listPrefetchRefused(this.#ctx, ids, since);
  createModelFile = (m: Omit<C.ModelFile, 'createdAt'>, now: number): Promise<boolean> =>
    models.createModelFile(this.#ctx, m, now);
  getModelFile = (name: string): Promise<C.ModelFile | null> => models.getModelFile(this.#ctx, name);
  listModelFiles = (names?: readonly string[]): Promise<C.ModelFile[]> =>
    models.listModelFiles(this.#ctx, names);
  deleteModelFile = (name: string): Promise<boolean> => models.deleteModelFile(this.#ctx, name);
  recordScalingDecision = (d: C.ScalingDecision): Promise<void> => fleet.recordScalingDecision(this.#ctx, d);
  listScalingDecisions = (pool: string | null, limit: number): Promise<C.ScalingDecision[]> =>
    fleet.listScalingDecisions(this.#ctx, pool, limit);

  listJobsForSweep = (before: number, limit: number): Promise<Job[]> =>
    listJobsForSweep(this.#ctx, before, limit);
  markJobSwept = (jobId: string, now: number): Promise<void> => markJobSwept(this.#ctx, jobId, now);
}
