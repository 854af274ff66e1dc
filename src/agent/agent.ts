/**
 * One agent per ComfyUI: registers the worker, keeps ComfyUI's health in view, claims one job at a time when
 * idle and healthy, runs it, and reports its status. The same class runs in-process and in `arrakis agent`.
 */
import type { ComfyServer } from '../comfy/contract.js';
import type { WorkerStatus } from '../store/contract.js';
import { Backoff, pause, Retry } from '../util/backoff.js';
import { silentLog, type AgentLog } from './agent-log.js';
import type { JobChannel, LeasedJob, WorkerIdentity } from '../workers/job-channel.js';
import type { ModelKeeper, ModelRun } from './model-keeper.js';
import { LeftoverPrompts } from './leftover-prompts.js';
import { runJob, type RunJobResult } from './run-job.js';

/** How long a worker that just finished a job waits for the next one before it says `idle`. */
export const IDLE_REPORT_DELAY_MS = 200;

export interface AgentOptions {
  channel: JobChannel;
  comfy: ComfyServer;
  identity: WorkerIdentity;
  /** Per-job time limit (default 10 minutes). */
  jobTimeoutMs?: number;
  /** How long one claim waits for a job before the agent re-checks its state (default 20 s). */
  claimWaitMs?: number;
  /** Health re-check backoff while ComfyUI is down (defaults 200 ms doubling to 5 s). */
  healthBackoffMs?: { min: number; max: number };
  progressIntervalMs?: number;
  /** Backoff of failing claims (defaults 500 ms doubling to 10 s, with jitter). */
  claimBackoffMs?: { minMs: number; maxMs: number };
  /**
   * The longest a new status report holds up what comes next (the claim, the next health check) before it
   * goes on in the background (default STATUS_REPORT_WAIT_MS).
   */
  statusReportWaitMs?: number;
  /**
   * After a question about a job prompt an earlier run left on ComfyUI failed, the next pass runs before a claim
   * at most this often (default LEFTOVER_RETRY_MS; leftover-prompts.ts).
   */
  leftoverRetryMs?: number;
  log?: AgentLog;
  /** Called when claims work again after failing (a restarted control plane may need re-telling things). */
  onClaimsRecovered?: () => void;
  /** Called after each job leaves this agent (tests and metrics). */
  onJobDone?: (jobId: string, result: RunJobResult) => void;
  /** Tracks and reports the worker's models and fetches missing files; absent = models not reported. */
  models?: ModelKeeper;
}

/**
 * How long a new status report is waited for at most: long enough for a control plane that answers, short of a
 * remote agent's request timeout (30 s) for one whose call hangs.
 */
export const STATUS_REPORT_WAIT_MS = 2_000;

/** Runs leased jobs on one ComfyUI, one at a time, until stopped. */
export class Agent {
  private readonly stopping = new AbortController();
  private loop: Promise<void> | null = null;
  private currentStatus: WorkerStatus = 'starting';
  private id: string | null = null;
  private readonly claims: Retry;
  /** Only for its once-per-outage logging: a missed status report is sent again at the next chance (report). */
  private readonly statusReports: Retry;
  /** Status reports in the order they were made; the idle/busy ones are not waited for (see runLoop). */
  private reporting: Promise<void> = Promise.resolve();
  /**
   * The last status report failed: the store may hold an older status than currentStatus, so the same status
   * is sent again at the next chance (report skips only a status the store already has).
   */
  private statusUnsent = false;
  /** Status reports queued and not yet answered (sent, failed or still waiting behind an earlier one). */
  private reportsPending = 0;

  /** Job prompts an earlier run left on this ComfyUI (leftover-prompts.ts). */
  private readonly leftovers: LeftoverPrompts;

  constructor(private readonly options: AgentOptions) {
    this.leftovers = new LeftoverPrompts(
      options.comfy,
      options.channel,
      this.log,
      () => this.id,
      options.leftoverRetryMs,
    );
    this.statusReports = new Retry('reporting the worker status', this.log);
    this.claims = new Retry(
      'claiming a job',
      this.log,
      options.claimBackoffMs ?? { minMs: 500, maxMs: 10_000 },
    );
  }

  /** The worker id, once registered. */
  get workerId(): string | null {
    return this.id;
  }

  get status(): WorkerStatus {
    return this.currentStatus;
  }

  /** Registers the worker and starts the claim loop; resolves once registered. */
  async start(): Promise<void> {
    if (this.loop !== null) return;
    this.id = await this.options.channel.register(this.options.identity);
    this.loop = this.runLoop().catch((err: unknown) => {
      this.log.warn({ workerId: this.id, err: String(err) }, 'agent loop ended with an error');
    });
  }

  /** Stops claiming, gives a running job back to the queue, and resolves once the worker is stopped. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
    await this.report('stopped');
  }

  private get log(): AgentLog {
    return this.options.log ?? silentLog;
  }

  private async runLoop(): Promise<void> {
    const signal = this.stopping.signal;
    let healthy = false;
    while (!signal.aborted) {
      if (!healthy) {
        healthy = await this.waitUntilHealthy(signal);
        if (healthy) {
          // Before any claim: a prompt an earlier run left there would hold up the job claimed next.
          await this.leftovers.settle(signal);
          await this.options.models?.refresh();
        }
        continue;
      }
      if (this.leftovers.retryDue && !this.claims.failing) await this.leftovers.settle(signal);
      // Right after a job the worker claims (waiting for one), and says `idle` only once no job came for
      // IDLE_REPORT_DELAY_MS: under load, or with jobs a moment apart, it stays `busy` from job to job instead
      // of writing two statuses (two store commits, or two calls from a remote agent) around every job. One
      // claim, not a claim without waiting and then a waiting one: on an empty queue the first only cost a
      // second statement (a second call from a remote agent) per job.
      let job: LeasedJob | null = null;
      if (this.currentStatus === 'busy') {
        job = await this.claimOrNull(signal, IDLE_REPORT_DELAY_MS);
      } else {
        await this.becomeIdle();
        job = await this.claimOrNull(signal);
      }
      if (job === null) {
        // While claims fail the control plane is away: a model report would only fail too.
        if (!signal.aborted && !this.claims.failing) {
          // A waiting claim that came back empty before the idle timer fired (a claim wait under
          // IDLE_REPORT_DELAY_MS, a control plane closing) still leaves the worker free: it says so.
          if (this.currentStatus === 'busy') await this.report('idle');
          await this.options.models?.idle();
          // No job came for a whole claim wait: a preload the fleet asks for may use the GPU until one does
          // (claiming stays first: jobArrived stops it).
          this.options.models?.freed();
        }
        continue;
      }
      this.options.models?.jobArrived();
      // Reported in order but not waited for: a status write must not sit between the claim and ComfyUI.
      void this.report('busy');
      const began = Date.now();
      this.log.info({ jobId: job.id, workerId: this.id, attempt: job.attempt }, 'running job');
      const result = await this.runWithModels(job, signal);
      this.log.info(
        { jobId: job.id, workerId: this.id, outcome: result.outcome, ms: Date.now() - began },
        `job ${result.outcome} on this worker`,
      );
      this.options.onJobDone?.(job.id, result);
      // The job's end was just published: let its waiters (an SSE stream, a `Prefer: wait` answer) write to
      // their clients before this agent's bookkeeping (status and model reports, the next claim) takes the loop.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (result.comfyUnhealthy) {
        // Not claiming again until ComfyUI answers its health check.
        healthy = false;
        await this.reportStatus('unhealthy');
      }
    }
    await this.options.models?.stop();
    await this.report('stopping');
  }

  /** Runs the job, fetching its missing model files first and recording the models it left resident. */
  private async runWithModels(job: LeasedJob, signal: AbortSignal): Promise<RunJobResult> {
    const models = this.options.models;
    let run: ModelRun | null = null;
    let firstProgressAt: number | null = null;
    const result = await runJob({
      channel: this.options.channel,
      comfy: this.options.comfy,
      job,
      timeoutMs: this.options.jobTimeoutMs ?? 600_000,
      progressIntervalMs: this.options.progressIntervalMs,
      signal,
      log: this.log,
      prepare:
        models === undefined
          ? undefined
          : async () => {
              run = await models.prepare(job);
            },
      onFirstProgress: () => {
        firstProgressAt = Date.now();
      },
    });
    if (models !== undefined && run !== null) {
      await models.finish(job, run, result.outcome === 'completed', firstProgressAt);
    }
    return result;
  }

  /**
   * A claim that fails (control plane or its database unreachable) backs off rather than spinning, with one
   * warning per outage and one line when claims work again. `idleAfterMs`: the worker says `idle` when the
   * claim itself has not answered by then; never during the backoff of a failed one (the control plane is
   * away: the report and the prefetch of that turn would only fail too, and the worker stays `busy`).
   */
  private async claimOrNull(signal: AbortSignal, idleAfterMs?: number): ReturnType<JobChannel['claim']> {
    const waitMs = this.options.claimWaitMs ?? 20_000;
    const idle =
      idleAfterMs === undefined ? undefined : setTimeout(() => void this.becomeIdle(), idleAfterMs);
    try {
      const job = await this.options.channel.claim(waitMs, signal).finally(() => clearTimeout(idle));
      const wasFailing = this.claims.failing;
      this.claims.succeeded();
      if (wasFailing) this.options.onClaimsRecovered?.();
      return job;
    } catch (err) {
      if (signal.aborted) return null;
      await pause(this.claims.failed(err, { workerId: this.id }), signal);
      return null;
    }
  }

  /**
   * Says `idle`, then starts a prefetch the fleet asked for (heard in the last report) in the background: it
   * never holds up a claim, and stops when a job arrives (resuming at a later idle turn).
   */
  private async becomeIdle(): Promise<void> {
    await this.reportStatus('idle');
    // A job that arrived while a report was on its way (this one, or the model report of the prefetch's turn:
    // the claim waits beside both) made the worker busy again, or the agent began stopping (its models may
    // have stopped already): no prefetch now.
    const free = (): boolean => this.currentStatus === 'idle' && !this.stopping.signal.aborted;
    if (!free()) return;
    if (this.options.models?.wantsPrefetch === true) await this.options.models.idle(free);
  }

  /** Health-checks ComfyUI with backoff until it answers (true) or the agent stops (false). */
  private async waitUntilHealthy(signal: AbortSignal): Promise<boolean> {
    const { min, max } = this.options.healthBackoffMs ?? { min: 200, max: 5000 };
    const backoff = new Backoff({ minMs: min, maxMs: max });
    let reported = false;
    while (!signal.aborted) {
      const health = await this.options.comfy
        .health()
        .catch((err: unknown) => ({ ok: false, detail: String(err) }));
      if (health.ok) return true;
      if (!reported) {
        reported = true;
        this.log.warn({ workerId: this.id, detail: health.detail }, 'ComfyUI is unhealthy');
      }
      // Sent once; at each re-check only when that report was lost (report skips a status the store has).
      await this.reportStatus('unhealthy');
      await pause(backoff.next(), signal);
    }
    return false;
  }

  /**
   * Reports `status` and waits for it only when it is new and no report is still on its way ahead of it, and
   * then for at most statusReportWaitMs: a report sent again after an outage lost it, one queued behind a call
   * that hangs, or a first one whose own call hangs (up to the request timeout, for a remote agent) must not hold
   * up what comes next (the claim, the health checks). A report not waited for still lands in order.
   */
  private async reportStatus(status: WorkerStatus): Promise<void> {
    if (this.currentStatus === status || this.reportsPending > 0) {
      void this.report(status);
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.options.statusReportWaitMs ?? STATUS_REPORT_WAIT_MS);
    });
    await Promise.race([this.report(status), waited]).finally(() => clearTimeout(timer));
  }

  /**
   * Status reports are best effort: a control plane blip must not stop the agent. They are chained, so the
   * store sees them in the order they were made even when the caller does not wait; resolves once sent.
   */
  private report(status: WorkerStatus): Promise<void> {
    if (this.currentStatus === status && !this.statusUnsent) return this.reporting;
    this.currentStatus = status;
    // Queued: a report of the same status sends nothing more unless this one fails (else every idle turn of an
    // outage would queue one more behind a hanging call).
    this.statusUnsent = false;
    this.reportsPending += 1;
    this.reporting = this.reporting.then(async () => {
      // A status write is bookkeeping: it waits for the turn of the event loop to end, so the work that
      // prompted it (the claimed job's prompt on its way to ComfyUI, a finished job's end reaching its
      // clients) goes first.
      await new Promise<void>((resolve) => setImmediate(resolve));
      try {
        await this.options.channel.setStatus(status);
        this.statusUnsent = false;
        this.statusReports.succeeded();
      } catch (err) {
        this.statusUnsent = true;
        this.statusReports.failed(err, { workerId: this.id, status });
      } finally {
        this.reportsPending -= 1;
      }
    });
    return this.reporting;
  }
}
