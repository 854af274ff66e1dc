/**
 * The control plane's side of the worker protocol, shared by the in-process channel and the worker HTTP API.
 * Job transitions (claim, progress, outputs, reports, release) go through the job lifecycle, which publishes
 * what follows them; this service adds the waits (for a claimable job, for a cancel) and the checks of what a
 * worker reports.
 */
import type { Readable } from 'node:stream';
import type { EventBus } from '../events/bus.js';
import type { Job, JobError, JobOutput, JobProgress } from '../jobs/types.js';
import type { ObjectStorage } from '../media/storage/contract.js';
import type {
  Claim,
  JobLease,
  LeaseState,
  ModelFile,
  Store,
  WorkerRecord,
  WorkerStatus,
} from '../store/contract.js';
import type { ModelRef } from '../models/model-refs.js';
import { BusWaiter } from '../events/bus-waiter.js';
import type { IdleClaimers, WaitingClaim } from '../jobs/lifecycle/idle-claimers.js';
import {
  LeaseLostError,
  OutputStoreError,
  PREFETCH_REFUSED_MS,
  type LeftoverAnswer,
  type ModelLoad,
  type ModelReport,
  type OutputFile,
  type ReportResult,
  type StoredOutput,
} from './job-channel.js';
import { assertValidKey } from '../media/storage/object-key.js';
import { isOutputKeyOf, outputKey, outputPrefix } from './output-key.js';
import { deleteAttempt, deleteStaleAttempts, deleteStoredFile, isLiveAttempt } from './stale-outputs.js';
import { SILENT_OUTAGE_LOG, type OutageLog } from '../util/backoff.js';
import { JobLifecycle } from '../jobs/lifecycle/job-lifecycle.js';
import type { RecentCompletions } from '../jobs/recent-completions.js';
import type { Settlement } from '../jobs/lifecycle/lifecycle-deps.js';
import { traceJob } from '../util/job-trace.js';

export interface WorkerServiceDeps {
  store: Store;
  storage: ObjectStorage;
  bus: EventBus;
  leaseMs: number;
  maxAttempts: number;
  /** A claim that heard no `job_ready` still retries this often (a missed notification must not stall a job). */
  fallbackPollMs?: number;
  /** Called with every job a worker report ended (metrics). Must not throw. */
  onFinished?: (job: Job) => void;
  /** This replica's memory of the jobs it completed, for the output download (api/routes/jobs.ts). */
  recentCompletions?: RecentCompletions;
  /** Called with every job a worker claimed (log, metrics). Must not throw. */
  onClaimed?: (job: Job, workerId: string) => void;
  /** Called with every job a worker released back to the queue (log). Must not throw. */
  onRequeued?: (job: Job) => void;
  /** How long bounded affinity may pass over the fair pick (ms); 0 or absent = plain fair order. */
  affinityMaxDelayMs?: number;
  /** Called with the model loads a worker reported (metrics). Must not throw. */
  onModelLoads?: (loads: readonly ModelLoad[]) => void;
  /**
   * This process's claims waiting for work, shared with the API's admissions (idle-claimers.ts): a claim that
   * waits registers there, and an admission may claim for it in its own commit. Absent: claims wait for the bus.
   */
  idleClaimers?: IdleClaimers;
  /** Where a failed clean-up of orphaned output files is reported (they are left to retention). */
  log?: OutageLog;
}

/** Thrown when a worker reports outputs that are not this job's stored files. */
export class ForeignOutputError extends Error {
  constructor(key: string, why = "is not one of this job's stored outputs") {
    super(`output ${JSON.stringify(key)} ${why}`);
    this.name = 'ForeignOutputError';
  }
}

/** `type/subtype` and nothing more: the owner's download sends it as a header, so no parameters, no CR/LF. */
const PLAIN_CONTENT_TYPE = /^[a-z]+\/[A-Za-z0-9][A-Za-z0-9.+-]{0,126}$/;

/**
 * A reported output must name exactly a key the server builds when a file is uploaded (storeOutput: this
 * job's prefix, `<attempt>.<seq>-` or, from an agent of the previous release, `<index>-`, then the safe form
 * of the output's own filename), and a valid object key besides: a remote worker is not trusted to name
 * storage objects, so `..`, backslashes, empty segments or another job's key never reach the owner's download.
 */
function checkReportedOutput(jobId: string, o: JobOutput): void {
  if (!isOutputKeyOf(jobId, o.objectKey, o.filename) || !o.objectKey.startsWith(outputPrefix(jobId))) {
    throw new ForeignOutputError(o.objectKey);
  }
  try {
    assertValidKey(o.objectKey);
  } catch (err) {
    throw new ForeignOutputError(
      o.objectKey,
      err instanceof Error ? err.message : 'is not a valid object key',
    );
  }
  if (!PLAIN_CONTENT_TYPE.test(o.contentType)) {
    throw new ForeignOutputError(
      o.objectKey,
      `has content type ${JSON.stringify(o.contentType)}, not type/subtype`,
    );
  }
}

/** Worker-facing job verbs over store, storage and bus. */
/**
 * How long a worker's given-up prefetch list, as this process last wrote it, spares the same list's write:
 * a list another replica wrote since is corrected within this time.
 */
export const REFUSED_REWRITE_MS = 60_000;

/**
 * The reason recorded on a job given back at its worker's next claim: the claim that leased it lost its answer
 * (or the worker gave the job up without a report that landed, and a claim of its failed since).
 */
export const UNRECEIVED_CLAIM = 'the worker claimed again without it';

/** The reason recorded on a job given back because its worker hung up while the claim that leased it ran. */
export const UNDELIVERED_CLAIM = 'the claim reply could not be delivered';

/**
 * How long a lease must have gone without renewal before a new agent of the same slot may end it
 * (WorkerService.releaseLeftover): the agent renews every third of the lease, so two intervals tolerate one
 * renewal that failed or was skipped, and a call (or a late timer) may take up to 2 s more. 22 s of a 30 s lease.
 */
export function leftoverSilenceMs(leaseMs: number): number {
  const interval = Math.ceil(leaseMs / 3);
  return 2 * interval + Math.min(2_000, interval);
}

/** The reason recorded on a job given back because a new agent found its prompt left on the same ComfyUI. */
export const LEFTOVER_PROMPT = 'its agent restarted and found the run left on its ComfyUI';

export class WorkerService {
  readonly leaseMs: number;
  private readonly fallbackPollMs: number;
  private readonly lifecycle: JobLifecycle;
  private readonly log: OutageLog;
  /**
   * Per worker, the prefetch files its agent last reported given up, as this process last wrote them to the
   * store (which holds the list, so every replica's fleet plan sees it, and a restart keeps it): a report that
   * says the same writes nothing — for REFUSED_REWRITE_MS: another replica may have written the worker's
   * list meanwhile (its reports reach any replica), so a cached list is written again once it is that old.
   */
  private readonly refusedWritten = new Map<string, { key: string; at: number }>();
  /** Since when background lease checks after uploads fail (logged once per outage), or null. */
  private uploadChecksFailingSince: number | null = null;

  constructor(private readonly deps: WorkerServiceDeps) {
    this.leaseMs = deps.leaseMs;
    this.fallbackPollMs = deps.fallbackPollMs ?? 1000;
    this.log = deps.log ?? SILENT_OUTAGE_LOG;
    this.lifecycle = new JobLifecycle({
      store: deps.store,
      bus: deps.bus,
      observer: {
        claimed: (job, workerId) => deps.onClaimed?.(job, workerId),
        requeued: (job) => deps.onRequeued?.(job),
        ended: (job) => {
          deps.recentCompletions?.remember(job);
          deps.onFinished?.(job);
        },
      },
    });
  }

  async register(
    worker: Omit<WorkerRecord, 'startedAt' | 'readyAt' | 'stoppedAt' | 'lastSeenAt'>,
  ): Promise<void> {
    const now = Date.now();
    await this.deps.store.upsertWorker({
      ...worker,
      startedAt: now,
      readyAt: null,
      stoppedAt: null,
      lastSeenAt: now,
    });
  }

  async setStatus(workerId: string, status: WorkerStatus): Promise<void> {
    await this.deps.store.setWorkerStatus(workerId, status, Date.now());
  }

  /**
   * Claims the next job, waiting up to `waitMs` for a `job_ready` (or the fallback poll) when none is queued; while
   * it waits, an admission on this process may claim for it in the admission's own commit (deps.idleClaimers). A
   * worker already told to stop claims nothing (a job it took would only be given back), unless an admission took
   * its wait just before the stop: that claim is leased, and answered. The claim carries the
   * node types whose file inputs the account's jobs may use unchecked, read with the claim itself (so revoking
   * works from the next claim, and costs no round trip of its own).
   */
  async claim(
    workerId: string,
    pool: string,
    waitMs: number,
    signal?: AbortSignal,
    claimId?: string,
  ): Promise<Claim | null> {
    const deadline = Date.now() + waitMs;
    const ticket = this.deps.idleClaimers?.ticket() ?? 0;
    const options = {
      affinityMaxDelayMs: this.deps.affinityMaxDelayMs ?? 0,
      ...(claimId !== undefined && { claimId }),
    };
    for (;;) {
      if (signal?.aborted === true) return null;
      const ready = new BusWaiter(
        this.deps.bus,
        (m) => m.kind === 'job_ready' && (m.pool === null || m.pool === pool),
      );
      let waiting: WaitingClaim | undefined;
      try {
        const claimed = await this.lifecycle.claim(workerId, pool, this.leaseMs, options);
        if (claimed !== null) {
          traceJob(claimed.job.id, 'claimed');
          return claimed;
        }
        const left = deadline - Date.now();
        if (left <= 0) return null;
        // An admission on this process may claim for this wait in its own commit, and then ends the wait.
        const request = { workerId, pool, leaseMs: this.leaseMs, options };
        waiting = this.deps.idleClaimers?.wait(request, ticket, () => ready.fire());
        // A stop ends the wait at once, and the loop's first check then returns.
        await ready.wait(Math.min(left, this.fallbackPollMs), signal);
      } finally {
        ready.dispose();
      }
      // Taken by an admission: its answer, once its commit is in (a stop meanwhile still gets it: it is leased).
      const handed = waiting === undefined ? null : await waiting.leave();
      if (handed !== null) {
        await this.lifecycle.claimed(handed, workerId);
        traceJob(handed.job.id, 'claimed');
        return handed;
      }
    }
  }

  /**
   * Records a worker's models (its reported loads go to metrics); answers the files it was asked to prefetch
   * that are not on it yet, and forgets the ones that arrived and the ones it gave up on (so the fleet's plan
   * no longer sees it fetching them, and may ask it for another).
   */
  async reportModels(workerId: string, report: ModelReport): Promise<ModelRef[]> {
    const { loads, prefetchFailed, ...state } = report;
    const now = Date.now();
    await this.deps.store.setWorkerModels(workerId, state, now);
    const refused = [...new Set(prefetchFailed ?? [])].sort();
    const key = JSON.stringify(refused);
    const written = this.refusedWritten.get(workerId);
    if (written?.key !== key || now - written.at >= REFUSED_REWRITE_MS) {
      await this.deps.store.setPrefetchRefused(workerId, refused, now, now - PREFETCH_REFUSED_MS);
      // Only a cache of writes: bounded as workers come and go (forgetting costs one more write each).
      if (this.refusedWritten.size >= 10_000) this.refusedWritten.clear();
      this.refusedWritten.set(workerId, { key, at: now });
    }
    if (loads.length > 0) this.deps.onModelLoads?.(loads);
    const asked = (await this.deps.store.getWorker(workerId))?.models?.prefetch ?? [];
    const done = new Set([...report.available, ...report.onDisk, ...(prefetchFailed ?? [])]);
    const pending = asked.filter((r) => !done.has(r.name));
    if (pending.length !== asked.length) await this.deps.store.setWorkerPrefetch(workerId, pending);
    return pending;
  }

  /**
   * The fleet's prefetch hook: asks an idle worker with a model cache to fetch these registered files onto its
   * disk, so a later switch to them costs a local load instead of a fetch. Replaces the previous request; the
   * agent picks it up at its next report (at least every claim wait while idle).
   */
  async prefetchModels(workerId: string, refs: readonly ModelRef[]): Promise<void> {
    await this.deps.store.setWorkerPrefetch(workerId, refs);
  }

  /** The prefetch files the worker's agent reported it gave up on, refused for PREFETCH_REFUSED_MS. */
  async prefetchRefused(workerId: string, now = Date.now()): Promise<string[]> {
    const found = await this.deps.store.listPrefetchRefused([workerId], now - PREFETCH_REFUSED_MS);
    return found.get(workerId) ?? [];
  }

  /** The registry entry of a model file, or null. */
  modelFile(name: string): Promise<ModelFile | null> {
    return this.deps.store.getModelFile(name);
  }

  heartbeat(jobId: string, workerId: string): Promise<LeaseState> {
    return this.deps.store.renewLease(jobId, workerId, this.leaseMs, Date.now());
  }

  /**
   * Resolves `cancel_requested` as soon as a cancel is accepted, `lost` as soon as the lease is gone, else `held`
   * after `waitMs`. The job's end wakes the wait (its `job_event` with `ended`), so the agent's poll answers
   * right after the completion commits instead of being aborted, which would close its connection. Every wake
   * (a cancel, the end, a requeue's `requeued`, a `resync`) re-reads the lease and answers what it finds; progress
   * (`ended: false`) does not wake it, nor does a requeue announced by a replica of the previous release (no
   * `requeued`): that wait answers at its timeout.
   */
  async waitForCancel(
    jobId: string,
    workerId: string,
    waitMs: number,
    signal?: AbortSignal,
  ): Promise<LeaseState> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      // Subscribe before reading, so a cancel or an end between the read and the wait still wakes it.
      const wake = new BusWaiter(
        this.deps.bus,
        (m) =>
          (m.kind === 'cancel' && m.jobId === jobId) ||
          (m.kind === 'job_event' && m.jobId === jobId && (m.ended !== false || m.requeued === true)),
      );
      try {
        const lease = await this.heldLease(jobId, workerId);
        if (lease === null) return 'lost';
        if (lease.cancelRequested) return 'cancel_requested';
        const left = deadline - Date.now();
        if (left <= 0 || signal?.aborted === true) return 'held';
        if (!(await wake.wait(left, signal))) return 'held';
      } finally {
        wake.dispose();
      }
    }
  }

  progress(jobId: string, workerId: string, progress: JobProgress): Promise<boolean> {
    return this.lifecycle.reportProgress(jobId, workerId, progress);
  }

  /** The job when it is running under this worker's lease, else null (the whole row: openInput reads its inputs). */
  async heldJob(jobId: string, workerId: string): Promise<Job | null> {
    const job = await this.deps.store.getJob(jobId);
    return job !== null && job.status === 'running' && job.workerId === workerId ? job : null;
  }

  /** As heldJob, reading only the lease columns: the check before every stored output file. */
  private async heldLease(jobId: string, workerId: string): Promise<JobLease | null> {
    const lease = await this.deps.store.jobLease(jobId);
    return lease !== null && lease.status === 'running' && lease.workerId === workerId ? lease : null;
  }

  /** The stored bytes of the job's input `name`. Throws LeaseLostError when the worker does not hold the job. */
  async openInput(
    jobId: string,
    workerId: string,
    name: string,
  ): Promise<{ body: Readable; size: number } | null> {
    const job = await this.heldJob(jobId, workerId);
    if (job === null) throw new LeaseLostError(jobId);
    const input = job.inputs.find((i) => i.name === name);
    if (input?.objectKey === undefined) return null;
    return await this.deps.storage.get(input.objectKey);
  }

  /**
   * Stores one output file of a job the worker holds, while it runs: storage only (no event, no commit). The
   * key is the server's (output-key.ts), from the job's attempt and the file's arrival number. The lease is
   * read before the bytes (the attempt, and a worker that does not hold the job refused before any byte) and
   * again after them (stillHeld).
   * - `attempt`: the attempt the caller's own claim handed the worker, which names the key without the read
   *   before. Only an in-process agent may pass it: every claim and report of its channel goes through this
   *   one service, so what its claim said stays true until its run reports an end. A remote agent's reports
   *   reach any replica (a run ended, or the job claimed again, elsewhere): its upload reads first.
   * - `after: 'background'` answers without waiting for the read after, for a caller that learns of a lost
   *   lease from its next report anyway (its completion's compare-and-set, its heartbeat, its cancel wait):
   *   the read still runs, at the next turn of the event loop, and still deletes a file stored for an attempt
   *   that is over; the completion that follows runs before it instead of after it.
   */
  async storeOutput(
    jobId: string,
    workerId: string,
    file: OutputFile,
    options: { attempt?: number; after?: 'await' | 'background' } = {},
  ): Promise<StoredOutput> {
    const attempt = options.attempt ?? (await this.heldLease(jobId, workerId))?.attempts;
    if (attempt === undefined) throw new LeaseLostError(jobId);
    const key = outputKey(jobId, attempt, file.seq, file.filename);
    const stored = await this.storeAt(jobId, key, file);
    if (options.after === 'background') {
      // After this turn: the report the caller makes next (its completion, whose compare-and-set answers the
      // same question) runs first, and the read costs the job's way to `done` nothing.
      setImmediate(() => this.checkInBackground(jobId, workerId, attempt, key));
    } else {
      await this.stillHeld(jobId, workerId, attempt, key);
    }
    return stored;
  }

  /** stillHeld for a caller that did not wait for it: a failure is logged once per outage, not once per file. */
  private checkInBackground(jobId: string, workerId: string, attempt: number, key: string): void {
    this.stillHeld(jobId, workerId, attempt, key).then(
      () => this.uploadChecksRecovered(),
      (err: unknown) => {
        if (err instanceof LeaseLostError) return this.uploadChecksRecovered();
        if (this.uploadChecksFailingSince !== null) return;
        this.uploadChecksFailingSince = Date.now();
        this.log.warn(
          { jobId, key, err: String(err) },
          'the lease check after an output upload failed (logged once until one succeeds)',
        );
      },
    );
  }

  /** A background lease check after an upload answered: the end of an outage that failed them, logged once. */
  private uploadChecksRecovered(): void {
    if (this.uploadChecksFailingSince === null) return;
    const downMs = Date.now() - this.uploadChecksFailingSince;
    this.uploadChecksFailingSince = null;
    (this.log.info ?? this.log.warn).call(
      this.log,
      { downMs },
      'the lease checks after output uploads recovered',
    );
  }

  /**
   * The previous release's per-output upload (`PUT …/outputs/{index}`), kept for its agents for one release:
   * announces nothing, unlike then (complete does), and stores under this attempt's key with the index as the
   * arrival number (`<attempt>.<index>-<filename>`), which the agent reports back as it is answered. The
   * previous release keyed by index alone: every run of the job wrote the same key, so a run that lost its lease
   * while its bytes were written overwrote the next run's file, and no clean-up could tell the two apart.
   */
  async storeIndexedOutput(
    jobId: string,
    workerId: string,
    index: number,
    file: OutputFile,
  ): Promise<JobOutput> {
    return { index, ...(await this.storeOutput(jobId, workerId, { ...file, seq: index })) };
  }

  /**
   * After a file was stored under `attempt`: throws LeaseLostError when the worker no longer holds that attempt
   * (the lease went while the bytes were written, or before them: the attempt may be the one this replica's
   * claim handed out, not one read just now). Whoever ended the attempt has deleted its files already (or deletes them now: stale-outputs.ts),
   * so one that lands after that is deleted here and refused, unless its attempt is live again: the job then
   * runs or completed with that very attempt, whose key may name a wanted file (isLiveAttempt).
   */
  private async stillHeld(jobId: string, workerId: string, attempt: number, key: string): Promise<void> {
    const after = await this.deps.store.jobLease(jobId);
    if (after?.status === 'running' && after.workerId === workerId && after.attempts === attempt) {
      return;
    }
    if (after === null || !isLiveAttempt(after, attempt)) {
      await deleteStoredFile(this.deps.storage, jobId, key, this.log);
    }
    throw new LeaseLostError(jobId);
  }

  private async storeAt(jobId: string, key: string, file: OutputFile): Promise<StoredOutput> {
    try {
      const stored = await this.deps.storage.put(key, file.bytes, file.contentType);
      traceJob(jobId, 'output file stored');
      return {
        nodeId: file.nodeId,
        filename: file.filename,
        contentType: stored.contentType,
        size: stored.size,
        objectKey: stored.key,
        type: file.type,
      };
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new OutputStoreError(`storing ${key} failed: ${why}`, { cause: err });
    }
  }

  /**
   * Completes the job with its stored outputs: their `output` events and `done` are one commit, with the run's
   * last `progress` (when given) recorded before them (Store.completeJob).
   */
  async complete(
    jobId: string,
    workerId: string,
    outputs: JobOutput[],
    progress?: JobProgress,
  ): Promise<ReportResult> {
    const keys = new Set<string>();
    for (const o of outputs) {
      checkReportedOutput(jobId, o);
      // Each stored file is one output: a key is no longer tied to an index, so a repeat is refused here.
      if (keys.has(o.objectKey)) throw new ForeignOutputError(o.objectKey, 'is reported twice');
      keys.add(o.objectKey);
    }
    const settlement = await this.lifecycle.complete(jobId, workerId, outputs, progress);
    if (settlement.kind === 'lost') await this.refused(jobId);
    else if (settlement.kind === 'completed' && settlement.job.attempts > 1) {
      // A backstop: earlier attempts' files are deleted when each lost its lease; one a storage error left goes now.
      const job = settlement.job;
      await deleteStaleAttempts(
        this.deps.storage,
        jobId,
        job,
        this.log,
        job.outputs.map((o) => o.objectKey),
      );
    }
    return await this.ended(jobId, settlement);
  }

  /**
   * A completion refused because the worker no longer holds the job: its run lost the lease (expired, then
   * requeued or ended) and its stored files are orphans, whatever keys it names (a worker is not trusted to
   * name them): the files of every attempt that is over are deleted, never those of the attempt running now
   * or of the one the job completed with.
   */
  private async refused(jobId: string): Promise<void> {
    const job = await this.deps.store.jobOutputKeys(jobId).catch(() => null);
    if (job === null) return;
    await deleteStaleAttempts(this.deps.storage, jobId, job, this.log, job.outputKeys);
  }

  async fail(jobId: string, workerId: string, error: JobError): Promise<ReportResult> {
    return await this.ended(jobId, await this.lifecycle.fail(jobId, workerId, error));
  }

  async finishCancel(jobId: string, workerId: string): Promise<ReportResult> {
    return await this.ended(jobId, await this.lifecycle.finishCancel(jobId, workerId));
  }

  /**
   * Gives back every job leased to a worker whose last claim ended without an answer it could read (the claim
   * leased one, then its answer was lost on the way): the worker never heard of them, and claims again only
   * because it holds none. Only leases that began before `arrivedAt` (the flagged claim's arrival, ms) go: a
   * later claim's lease of the same worker, one the worker does run, stays whenever this runs. Each goes back
   * as its lease's expiry would send it, the attempt counted (not refunded: an agent that can never read the
   * answer, e.g. one too old for the wire, must not make the job cycle forever; after the attempt limit it fails
   * `worker_lost`), and that attempt's files are deleted. Returns how many.
   */
  async releaseUnreceived(workerId: string, arrivedAt: number): Promise<number> {
    let released = 0;
    for (const jobId of await this.deps.store.jobsHeldBy(workerId)) {
      if (await this.giveBack(jobId, workerId, UNRECEIVED_CLAIM, arrivedAt)) released += 1;
    }
    if (released > 0) this.log.warn({ workerId, released }, 'gave back jobs whose claim answer was lost');
    return released;
  }

  /**
   * Gives back every job still leased to `workerId` by one of the claims `claimIds`: claims of that worker that
   * ended without an answer it could read (RemoteJobChannel.claim names each claim and lists the lost ones on its
   * next). The worker never heard of those jobs, whenever this runs: a lease made by any other claim, the
   * worker's later ones included, stays. Each goes back as releaseUnreceived sends it (the attempt counted, its
   * files deleted), in a compare-and-set on the lease as read. Returns how many.
   */
  async releaseLostClaims(workerId: string, claimIds: readonly string[]): Promise<number> {
    let released = 0;
    for (const lease of await this.deps.store.leasesOfClaims(workerId, claimIds)) {
      if (await this.giveBack(lease.jobId, workerId, UNRECEIVED_CLAIM, undefined, lease.leaseExpiresAt)) {
        released += 1;
      }
    }
    if (released > 0) this.log.warn({ workerId, released }, 'gave back jobs whose claim answer was lost');
    return released;
  }

  /**
   * Decides about a job prompt worker `callerId` found in its ComfyUI's queue when it (re)gained that ComfyUI,
   * running no job itself: the prompt of attempt `attempt` of job `jobId`, submitted by an earlier process of
   * the same worker slot (one that crashed or was killed, and so gave nothing back: its lease would keep the job
   * `running` until it expires), by a run of this process that ended while ComfyUI was unreachable, or by another
   * agent sharing the ComfyUI.
   * - `stale`: that attempt no longer runs (the job ended, went back, or runs a later attempt): stop the prompt.
   * - `held`: another slot's worker runs it (another kind — a remote worker never ends an in-process worker's
   *   lease — pool, name or ComfyUI URL; or its record is gone): the prompt is someone's live run.
   * - `recent`: the caller or the same slot's worker holds it and renewed the lease less than leftoverSilenceMs
   *   ago (a second live agent of that slot, on the same host under the same name, would still be renewing; so
   *   might a second process acting for the caller's own worker id): ask again after `retryAfterMs`, by which
   *   time a live holder will have renewed it again, even with one renewal missed.
   * - `released`: it ran under the caller, or under the same slot's worker, and the lease has not been renewed
   *   for that long: it went back to the queue in a compare-and-set on the lease as read (a renewal since leaves
   *   it, answered `recent`), the attempt counted as the lease's expiry would count it (a job that kills its
   *   agent every time fails `worker_lost` instead of cycling), its files deleted. Stop the prompt.
   * The silence is this replica's `--lease-seconds`: replicas that differ in it, or whose clocks differ by more
   * than the margin, can misjudge it (keep them alike).
   */
  async releaseLeftover(callerId: string, jobId: string, attempt: number): Promise<LeftoverAnswer> {
    const now = Date.now();
    const job = await this.deps.store.getJob(jobId);
    if (
      job?.status !== 'running' ||
      job.attempts !== attempt ||
      job.workerId === null ||
      job.leaseExpiresAt === null
    ) {
      return { outcome: 'stale' };
    }
    const holderId = job.workerId;
    if (holderId !== callerId) {
      const [caller, holder] = await Promise.all([
        this.deps.store.getWorker(callerId),
        this.deps.store.getWorker(holderId),
      ]);
      const sameSlot =
        caller !== null &&
        holder !== null &&
        holder.kind === caller.kind &&
        holder.pool === caller.pool &&
        holder.name === caller.name &&
        holder.comfyUrl === caller.comfyUrl;
      if (!sameSlot) return { outcome: 'held' };
    }
    // Even the caller's own lease: two processes may act for one worker id (a fleet worker across a leader change).
    const silentAt = job.leaseExpiresAt - this.leaseMs + leftoverSilenceMs(this.leaseMs);
    if (now < silentAt) return { outcome: 'recent', retryAfterMs: silentAt - now };
    if (!(await this.giveBack(jobId, holderId, LEFTOVER_PROMPT, now, job.leaseExpiresAt))) {
      // Renewed, or ended, since the read: the next question sees which.
      return { outcome: 'recent', retryAfterMs: 0 };
    }
    this.log.warn(
      { workerId: callerId, jobId, attempt, heldBy: holderId },
      'gave back a job whose run was left on its ComfyUI by an earlier agent',
    );
    return { outcome: 'released' };
  }

  /**
   * Gives back the job a claim leased when its worker hung up before the answer (the claim route): that lease
   * only, as the claim made it (a later claim's lease of the same job — a claim listing this one as lost may
   * have given it back and leased it again — stays), the attempt refunded: the worker never ran it.
   */
  async releaseUndelivered(job: Job, workerId: string): Promise<boolean> {
    if (job.leaseExpiresAt === null) return false;
    return await this.giveBack(job.id, workerId, UNDELIVERED_CLAIM, undefined, job.leaseExpiresAt, true);
  }

  /**
   * Ends `holderId`'s lease of `jobId` if it began before `startedBefore` (and, given `leaseExpiresAt`, was not
   * renewed since it was read with that expiry; the attempt counted unless `voluntary`), then deletes
   * that attempt's files: after the compare-and-set, so a later lease's files are never touched (the one it
   * ended is the job's current attempt: a release does not renumber it). Returns whether it went back.
   */
  private async giveBack(
    jobId: string,
    holderId: string,
    reason: string,
    startedBefore: number | undefined,
    leaseExpiresAt?: number,
    voluntary = false,
  ): Promise<boolean> {
    const options = { maxAttempts: this.deps.maxAttempts, reason, startedBefore, leaseExpiresAt, voluntary };
    const settlement = await this.lifecycle.release(jobId, holderId, options);
    if (settlement.kind === 'lost') return false;
    await deleteAttempt(this.deps.storage, jobId, settlement.job.attempts, this.log);
    await this.ended(jobId, settlement);
    return true;
  }

  /** Releases the job; a `voluntary` release (the worker is stopping) does not count against the retry limit. */
  async release(jobId: string, workerId: string, reason: string, voluntary = false): Promise<ReportResult> {
    const maxAttempts = this.deps.maxAttempts;
    // The run's files go with its lease: its attempt is over whatever the release's kind (the next claim counts
    // a new one, never this number again). Its uploads have settled; one that lands later is deleted there.
    const lease = await this.heldLease(jobId, workerId);
    if (lease !== null) await deleteAttempt(this.deps.storage, jobId, lease.attempts, this.log);
    const settlement = await this.lifecycle.release(jobId, workerId, { maxAttempts, reason, voluntary });
    return await this.ended(jobId, settlement);
  }

  /**
   * A job that ended failed or cancelled exposes no outputs: the files its worker stored meanwhile are
   * deleted now (the agent waits for its uploads before it reports such an end). A completed job's files
   * that history did not list stay until retention deletes the job's prefix; a requeued job's were deleted
   * before its release. A storage error leaves them to retention as well.
   */
  private async ended(jobId: string, s: Settlement): Promise<ReportResult> {
    if (s.kind === 'failed' || s.kind === 'cancelled') {
      await this.deps.storage.deletePrefix(outputPrefix(jobId)).catch(() => 0);
    }
    return reportResult(s);
  }
}

/** The worker protocol's answer to a report: `finished` with the job's status (requeued reads `queued`). */
function reportResult(s: Settlement): ReportResult {
  if (s.kind !== 'lost') traceJob(s.job.id, 'terminal commit');
  return s.kind === 'lost' ? { kind: 'lost' } : { kind: 'finished', status: s.job.status };
}
