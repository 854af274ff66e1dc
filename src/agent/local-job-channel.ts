/** The in-process JobChannel: store, storage and bus of this very process (agents started by `serve`/`dev`). */
import { buffer } from 'node:stream/consumers';
import type { EventBus } from '../events/bus.js';
import type { JobError, JobInput, JobOutput, JobProgress } from '../jobs/types.js';
import type { LeaseState, ModelFile, WorkerStatus } from '../store/contract.js';
import type { ModelRef } from '../models/model-refs.js';
import { newId } from '../util/ids.js';
import type {
  JobChannel,
  LeasedJob,
  LeftoverAnswer,
  ModelReport,
  OutputFile,
  ReportResult,
  StoredOutput,
  WorkerIdentity,
} from '../workers/job-channel.js';
import type { WorkerService } from '../workers/worker-service.js';

export interface LocalJobChannelOptions {
  service: WorkerService;
  bus: EventBus;
  /** Fixed worker id (a provider's own handle); a new one is made when absent. */
  workerId?: string;
}

/** A JobChannel that calls the WorkerService directly; cancels arrive as bus `cancel` messages. */
export class LocalJobChannel implements JobChannel {
  private readonly service: WorkerService;
  private readonly bus: EventBus;
  private workerId: string;
  private pool = '';
  /**
   * The job this channel's last claim handed its agent, and in which attempt, until the run reports its end:
   * its uploads name their keys from it (WorkerService.storeOutput `attempt`), with no lease read before.
   */
  private running: { jobId: string; attempt: number } | null = null;

  constructor(options: LocalJobChannelOptions) {
    this.service = options.service;
    this.bus = options.bus;
    this.workerId = options.workerId ?? newId('wrk');
  }

  async register(identity: WorkerIdentity): Promise<string> {
    // The runtime resolves an in-process agent's pool (the default pool, or its fleet pool); only a remote
    // agent may leave it to the server (its token's pool).
    if (identity.pool === null) throw new Error('an in-process agent must name its pool');
    this.pool = identity.pool;
    await this.service.register({
      id: this.workerId,
      name: identity.name,
      pool: this.pool,
      kind: 'inprocess',
      comfyUrl: identity.comfyUrl,
      status: 'starting',
      providerRef: null,
    });
    return this.workerId;
  }

  setStatus(status: WorkerStatus): Promise<void> {
    return this.service.setStatus(this.workerId, status);
  }

  async claim(waitMs: number, signal?: AbortSignal): Promise<LeasedJob | null> {
    const claimed = await this.service.claim(this.workerId, this.pool, waitMs, signal);
    if (claimed === null) return null;
    const { job, fileNodeAllowlist } = claimed;
    this.running = { jobId: job.id, attempt: job.attempts };
    return {
      id: job.id,
      workflow: job.workflow,
      inputs: job.inputs,
      attempt: job.attempts,
      leaseMs: this.service.leaseMs,
      fileNodeAllowlist,
      models: job.models,
    };
  }

  reportModels(report: ModelReport): Promise<ModelRef[]> {
    return this.service.reportModels(this.workerId, report);
  }

  modelFile(name: string): Promise<ModelFile | null> {
    return this.service.modelFile(name);
  }

  heartbeat(jobId: string): Promise<LeaseState> {
    return this.service.heartbeat(jobId, this.workerId);
  }

  progress(jobId: string, progress: JobProgress): Promise<boolean> {
    return this.service.progress(jobId, this.workerId, progress);
  }

  async getInput(jobId: string, input: JobInput, signal?: AbortSignal): Promise<Buffer> {
    const found = await this.service.openInput(jobId, this.workerId, input.name);
    if (found === null) throw new Error(`input ${input.name} of job ${jobId} is not in storage`);
    if (signal === undefined) return await buffer(found.body);
    // The job's stop ends a read still arriving (a slow object store) and releases its stream.
    const stop = (): void => {
      found.body.destroy(signal.reason instanceof Error ? signal.reason : new Error('the job stopped'));
    };
    if (signal.aborted) stop();
    signal.addEventListener('abort', stop, { once: true });
    try {
      return await buffer(found.body);
    } finally {
      signal.removeEventListener('abort', stop);
    }
  }

  /** Answered once the bytes are stored: a lease lost meanwhile is this run's next report's to tell. */
  storeOutput(jobId: string, file: OutputFile): Promise<StoredOutput> {
    const attempt = this.running?.jobId === jobId ? this.running.attempt : undefined;
    return this.service.storeOutput(jobId, this.workerId, file, { attempt, after: 'background' });
  }

  complete(jobId: string, outputs: JobOutput[], progress?: JobProgress): Promise<ReportResult> {
    return this.ended(jobId, this.service.complete(jobId, this.workerId, outputs, progress));
  }

  fail(jobId: string, error: JobError): Promise<ReportResult> {
    return this.ended(jobId, this.service.fail(jobId, this.workerId, error));
  }

  finishCancel(jobId: string): Promise<ReportResult> {
    return this.ended(jobId, this.service.finishCancel(jobId, this.workerId));
  }

  release(jobId: string, reason: string, voluntary = false): Promise<ReportResult> {
    return this.ended(jobId, this.service.release(jobId, this.workerId, reason, voluntary));
  }

  releaseLeftover(jobId: string, attempt: number): Promise<LeftoverAnswer> {
    return this.service.releaseLeftover(this.workerId, jobId, attempt);
  }

  /** A report that may end the run: the claim's attempt is not vouched for past it (its uploads read again). */
  private ended(jobId: string, report: Promise<ReportResult>): Promise<ReportResult> {
    if (this.running?.jobId === jobId) this.running = null;
    return report;
  }

  onCancel(jobId: string, cb: () => void): () => void {
    let fired = false;
    const fire = (): void => {
      if (fired) return;
      fired = true;
      cb();
    };
    // A cancel accepted before we subscribed (or while the bus was reconnecting) is only in the store.
    const check = (): void => {
      void this.service.waitForCancel(jobId, this.workerId, 0).then(
        (state) => {
          if (state === 'cancel_requested') fire();
        },
        () => {},
      );
    };
    const unsubscribe = this.bus.subscribe((m) => {
      if (m.kind === 'cancel' && m.jobId === jobId) fire();
      if (m.kind === 'resync') check();
    });
    // After the current turn: the job's own start (the prompt on its way to ComfyUI) goes first, and a cancel
    // found here still stops the prompt, which is then already queued.
    setImmediate(check);
    return () => {
      fired = true;
      unsubscribe();
    };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
