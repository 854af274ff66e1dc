/**
 * Runs one leased job on one ComfyUI: uploads its inputs, isolates its workflow, runs the prompt, relays
 * progress, renews the lease, stores the outputs (as soon as an `executed` frame names them, while the prompt
 * still runs) and reports how it ended (a completion names the stored files history lists, in one commit).
 * Every way a job can end maps to exactly one report (or none, when the lease is gone and another worker may
 * own the job).
 */
import { ComfyRejectedError, ComfyUnavailableError, OutputTooLargeError } from '../comfy/contract.js';
import type { ComfyOutputFile, ComfyServer, PromptOutcome } from '../comfy/contract.js';
import { WorkflowRewriteError, rewriteWorkflowForJob } from '../comfy/workflow-rewrite.js';
import { outputRefusal } from '../comfy/output-confinement.js';
import type { JobError, JobOutput, OutputType } from '../jobs/types.js';
import { Backoff, pause } from '../util/backoff.js';
import { ModelFetchError } from '../models/model-cache.js';
import { silentLog, type AgentLog } from './agent-log.js';
import { detectContentType } from '../media/output-content-type.js';
import {
  LeaseLostError,
  OutputStoreError,
  type JobChannel,
  type LeasedJob,
  type ReportResult,
  type StoredOutput,
} from '../workers/job-channel.js';
import { safeFilename } from '../util/safe-filename.js';
import { callBound } from '../util/call-bound.js';
import { traceJob } from '../util/job-trace.js';
import { MAX_OUTPUT_BYTES } from '../workers/worker-protocol.js';
import { ProgressThrottle } from './progress-throttle.js';
import { PromptProgress } from './prompt-progress.js';
import { jobPromptId } from './prompt-ids.js';

export interface RunJobOptions {
  channel: JobChannel;
  comfy: ComfyServer;
  job: LeasedJob;
  /** The job is interrupted and fails `timeout` after this long. */
  timeoutMs: number;
  /** Minimum spacing of progress reports (default 100 ms: at most 10 per second). */
  progressIntervalMs?: number;
  /** The largest output file read from ComfyUI (default MAX_OUTPUT_BYTES, what the control plane stores). */
  maxOutputBytes?: number;
  /** Aborting gives the job back to the queue (the agent is stopping). */
  signal?: AbortSignal;
  log?: AgentLog;
  /** Runs first, under the lease (fetches missing model files); a ModelFetchError fails `model_fetch_failed`. */
  prepare?: (signal: AbortSignal) => Promise<void>;
  /** Called once at the first progress event (the model loads end before sampling starts). */
  onFirstProgress?: () => void;
}

export interface RunJobResult {
  /** How the job left this worker: `lost` means no report was accepted (the lease had gone). */
  outcome: 'completed' | 'failed' | 'cancelled' | 'released' | 'lost';
  /** ComfyUI stopped answering or forgot the prompt: health-check it before claiming again. */
  comfyUnhealthy: boolean;
}

type StopReason = 'cancel' | 'timeout' | 'lost' | 'shutdown';

/** Lease renewals on their way at once, at most (run-job's renewLease). */
const MAX_HEARTBEATS_IN_FLIGHT = 2;

function fileKey(file: ComfyOutputFile): string {
  return JSON.stringify([file.type, file.subfolder, file.filename]);
}

/** Runs `job` to its end on `comfy` and reports the outcome through `channel`. Never throws. */
export async function runJob(options: RunJobOptions): Promise<RunJobResult> {
  return await new JobRun(options).run();
}

/**
 * Output files worth keeping, saved outputs first and previews after (each group in ComfyUI's order), never
 * ComfyUI's own input folder (`files` are already the job's own: JobRun.ownFiles): `outputs[0]` is the saved
 * image a client most likely wants.
 */
function results(files: readonly ComfyOutputFile[]): Array<ComfyOutputFile & { type: 'output' | 'temp' }> {
  const saved = files.filter((f): f is ComfyOutputFile & { type: 'output' } => f.type === 'output');
  const previews = files.filter((f): f is ComfyOutputFile & { type: 'temp' } => f.type === 'temp');
  return [...saved, ...previews];
}

class JobRun {
  private readonly job: LeasedJob;
  private readonly channel: JobChannel;
  private readonly log: AgentLog;
  private readonly abort = new AbortController();
  private readonly progress: ProgressThrottle;
  private readonly cleanups: Array<() => void> = [];
  private stopReason: StopReason | null = null;
  /** Files stored early from `executed` frames, by fileKey (see storeEarly). */
  private readonly early = new Map<string, Promise<StoredOutput>>();
  /** The last early store queued (they run one after another: one file's bytes held at a time). */
  private earlyQueue: Promise<unknown> = Promise.resolve();
  /** Uploads in flight: an end that deletes the job's files (fail, cancel) is reported only after them. */
  private readonly uploading = new Set<Promise<unknown>>();
  /** The next file's arrival number (part of its object key). */
  private nextSeq = 0;
  /** False once the run is reporting its end: an early store not yet started then stores for nobody. */
  private running = true;
  /** Files refused as not this job's (ownFiles), by node and fileKey: each is logged once. */
  private readonly refused = new Set<string>();

  constructor(private options: RunJobOptions) {
    this.job = options.job;
    this.channel = options.channel;
    this.log = options.log ?? silentLog;
    this.progress = new ProgressThrottle(
      (p) => this.channel.progress(this.job.id, p),
      options.progressIntervalMs ?? 100,
    );
  }

  async run(): Promise<RunJobResult> {
    this.watch();
    try {
      return await this.execute();
    } catch (err) {
      try {
        return await this.handleError(err);
      } catch (reportErr) {
        // The control plane is unreachable: the lease will expire and the job is retried elsewhere.
        this.log.warn({ jobId: this.job.id, err: String(reportErr) }, 'could not report the job outcome');
        return { outcome: 'lost', comfyUnhealthy: false };
      }
    } finally {
      this.running = false;
      for (const cleanup of this.cleanups) cleanup();
      this.progress.stop();
    }
  }

  /** Cancel push, lease renewal, per-job timeout and agent shutdown all end in `stop`. */
  private watch(): void {
    this.cleanups.push(this.channel.onCancel(this.job.id, () => this.stop('cancel')));
    this.renewLease();
    const timeout = setTimeout(() => this.stop('timeout'), this.options.timeoutMs);
    this.cleanups.push(() => clearTimeout(timeout));
    const signal = this.options.signal;
    if (signal !== undefined) {
      const onShutdown = (): void => this.stop('shutdown');
      if (signal.aborted) onShutdown();
      signal.addEventListener('abort', onShutdown, { once: true });
      this.cleanups.push(() => signal.removeEventListener('abort', onShutdown));
    }
  }

  /**
   * Heartbeats every third of the lease; the answer also carries cancels and a lost lease. Each call is given two
   * intervals, and the next beat goes out while one call is still on its way (never a third): a call that hangs
   * (a connection gone dead without a reset) would otherwise hold back every renewal until the request timeout,
   * about the lease itself, and a live run would lose its lease; a slow call that answers within two intervals
   * still counts.
   */
  private renewLease(): void {
    const intervalMs = Math.max(10, Math.floor(this.job.leaseMs / 3));
    let inFlight = 0;
    const beat = async (): Promise<void> => {
      if (inFlight >= MAX_HEARTBEATS_IN_FLIGHT) return;
      inFlight += 1;
      const bound = callBound(2 * intervalMs);
      try {
        const state = await this.channel.heartbeat(this.job.id, bound.signal);
        if (state === 'cancel_requested') this.stop('cancel');
        if (state === 'lost') this.stop('lost');
      } catch (err) {
        // A missed renewal is retried on the next beat; a lease that expires meanwhile answers `lost`.
        this.log.warn({ jobId: this.job.id, err: String(err) }, 'lease renewal failed');
      } finally {
        bound.end();
        inFlight -= 1;
      }
    };
    const timer = setInterval(() => void beat(), intervalMs);
    this.cleanups.push(() => clearInterval(timer));
  }

  /** The first reason wins; aborting makes the ComfyUI client stop this prompt (and only this one). */
  private stop(reason: StopReason): void {
    if (this.stopReason !== null) return;
    this.stopReason = reason;
    this.abort.abort();
  }

  private async execute(): Promise<RunJobResult> {
    traceJob(this.job.id, 'run started');
    await this.options.prepare?.(this.abort.signal);
    if (this.stopReason !== null) return await this.afterStop();
    const uploads = await this.uploadInputs();
    if (this.stopReason !== null) return await this.afterStop();
    // The same file-input rules as at submission, against this server's own /object_info: a template or a job
    // queued before a rule changed must not reach ComfyUI with a file input that names another tenant's files.
    // Without the catalog a custom node's file inputs cannot be told: an unreadable /object_info throws
    // ComfyUnavailableError, and the job goes back to the queue instead of running unchecked.
    const catalog = await this.options.comfy.nodeCatalog();
    const workflow = rewriteWorkflowForJob(this.job.workflow, this.job.id, uploads, {
      catalog: catalog.fileInputs,
      fileNodeAllowlist: this.job.fileNodeAllowlist ?? [],
    });
    const tracker = new PromptProgress(this.job.workflow);
    const outcome = await this.options.comfy.runPrompt(workflow, {
      // A retry on the same ComfyUI must not collide with the first attempt's history entry.
      promptId: jobPromptId(this.job.id, this.job.attempt),
      onProgress: (p) => {
        this.firstProgress();
        this.progress.push(tracker.steps(p.value, p.max, p.node));
      },
      onNode: (e) => {
        if (e.kind === 'executed') this.storeEarly(this.ownFiles(e.files));
        const p = tracker.node(e);
        if (p !== null) this.progress.push(p);
      },
      onQueued: (promptId) =>
        this.log.info(
          { jobId: this.job.id, promptId, comfyUrl: this.options.comfy.url },
          'prompt sent to ComfyUI',
        ),
      signal: this.abort.signal,
    });
    traceJob(this.job.id, 'prompt outcome known');
    if (this.stopReason !== null) return await this.afterStop();
    return await this.settle(outcome);
  }

  private firstProgress(): void {
    const cb = this.options.onFirstProgress;
    this.options = { ...this.options, onFirstProgress: undefined };
    cb?.();
  }

  /**
   * The files that are this job's to store (output-confinement.ts): a node may name any file in ComfyUI's
   * shared folders, another job's output included. A refused file is never downloaded; each is logged once.
   */
  private ownFiles(files: readonly ComfyOutputFile[]): ComfyOutputFile[] {
    return files.filter((file) => {
      const reason = outputRefusal(file, this.job.id);
      if (reason === null) return true;
      const key = JSON.stringify([file.nodeId, fileKey(file)]);
      if (!this.refused.has(key)) {
        this.refused.add(key);
        this.log.warn(
          {
            jobId: this.job.id,
            nodeId: file.nodeId,
            type: file.type,
            subfolder: file.subfolder,
            filename: file.filename,
            reason,
          },
          "output file refused: it is not in this job's output folder",
        );
      }
      return false;
    });
  }

  /**
   * Downloads and stores the files an `executed` frame names, while ComfyUI finishes the prompt and the
   * follower confirms the end in history: by the time the outcome is known the bytes are durable, and the
   * completion only names them. Only a hint: what is reported is what history lists (a file it does not list
   * is never reported, and its object stays for retention; one it lists that was not stored here is stored
   * then). One file at a time, so a batch of videos holds one file's bytes, not all of them.
   */
  private storeEarly(files: readonly ComfyOutputFile[]): void {
    for (const file of files) {
      const key = fileKey(file);
      const type = file.type;
      if (type === 'input' || this.early.has(key)) continue;
      const stored = this.earlyQueue.then(async () => {
        // Stopped (a cancel, a timeout) or ended: the queued files are not wanted any more.
        if (this.stopReason !== null || !this.running) throw new Error('the job is no longer running');
        return await this.storeFile({ ...file, type });
      });
      stored.catch(() => undefined); // a failed or skipped early store is stored again if history lists it
      this.early.set(key, stored);
      this.earlyQueue = stored.catch(() => undefined);
    }
  }

  /**
   * Downloads `file` and stores it (retried like a report: storing a file twice under its key is harmless,
   * re-running the job is not). An early store gives up quietly once the job stopped while it downloaded.
   */
  private async storeFile(file: ComfyOutputFile & { type: OutputType }): Promise<StoredOutput> {
    // The job's stop (timeout, cancel, shutdown, lost lease) ends a download that is still arriving; a file
    // larger than any worker may store is read no further and fails the job (output_store_failed, not retried).
    const bytes = await this.options.comfy
      .download(file, this.abort.signal, this.options.maxOutputBytes ?? MAX_OUTPUT_BYTES)
      .catch((err: unknown) => {
        throw err instanceof OutputTooLargeError ? new OutputStoreError(err.message, { cause: err }) : err;
      });
    traceJob(this.job.id, 'output downloaded');
    // Checked and registered in one turn: once settleUploads ran, no upload starts.
    if (this.stopReason !== null || !this.running) throw new Error('the job is no longer running');
    const seq = this.nextSeq++;
    const output = {
      seq,
      nodeId: file.nodeId,
      filename: file.filename,
      contentType: detectContentType(bytes, file.filename),
      bytes,
      type: file.type,
    };
    const upload = this.report(() => this.channel.storeOutput(this.job.id, output));
    this.uploading.add(upload);
    try {
      return await upload;
    } finally {
      this.uploading.delete(upload);
    }
  }

  /** The stored file: the early store when there is one that worked, else a fresh download and store. */
  private async stored(file: ComfyOutputFile & { type: OutputType }): Promise<StoredOutput> {
    const early = this.early.get(fileKey(file));
    if (early !== undefined) {
      try {
        return await early;
      } catch (err) {
        // A lost lease stays lost and a stopped job wants nothing more; anything else (a failed download,
        // storage refusing once) is tried again.
        if (err instanceof LeaseLostError || this.stopReason !== null) throw err;
      }
    }
    return await this.storeFile(file);
  }

  /** No early store starts from here on, and the ones in flight have ended (their objects are in storage). */
  private async settleUploads(): Promise<void> {
    this.running = false;
    await Promise.allSettled([...this.uploading]);
  }

  /** Uploads every stored input into a per-job subfolder; returns input name → the name LoadImage must use. */
  private async uploadInputs(): Promise<Map<string, string>> {
    const uploads = new Map<string, string>();
    for (const input of this.job.inputs) {
      if (input.objectKey === undefined || this.stopReason !== null) continue;
      // The job's stop (cancel, timeout, shutdown, lost lease) ends a download or an upload still in flight.
      const bytes = await this.channel.getInput(this.job.id, input, this.abort.signal);
      const name = await this.options.comfy.uploadInput(
        bytes,
        safeFilename(input.filename, 'input'),
        `arrakis/${this.job.id}`,
        this.abort.signal,
      );
      uploads.set(input.name, name);
    }
    return uploads;
  }

  private async settle(outcome: PromptOutcome): Promise<RunJobResult> {
    switch (outcome.kind) {
      case 'success': {
        const own = results(this.ownFiles(outcome.outputs));
        // A job whose every saved or previewed file was refused fails with the reason, not an empty success.
        const named = outcome.outputs.filter((f) => f.type !== 'input');
        if (own.length === 0 && named.length > 0) {
          const first = named[0]!;
          return await this.fail({
            code: 'output_refused',
            message:
              `every file the workflow's nodes named was refused as not this job's (outside its own folder), so none was stored ` +
              `(node ${first.nodeId}: ${first.type} ${JSON.stringify(first.subfolder)} ${JSON.stringify(first.filename)})`,
            nodeId: first.nodeId,
          });
        }
        return await this.storeAndComplete(own);
      }
      case 'error':
        return await this.fail({
          code: 'execution_error',
          message: outcome.message,
          nodeId: outcome.nodeId ?? undefined,
        });
      case 'interrupted':
        // Interrupted by someone else (an old server's body-less interrupt, a shutdown): retry it, re-check health.
        return await this.release('the prompt was interrupted outside Arrakis', true);
      case 'lost':
        return await this.release(`ComfyUI lost the prompt: ${outcome.reason}`, true);
    }
  }

  private async storeAndComplete(
    files: Array<ComfyOutputFile & { type: OutputType }>,
  ): Promise<RunJobResult> {
    const outputs: JobOutput[] = [];
    const used = new Set<string>();
    for (const [index, file] of files.entries()) {
      let stored = await this.stored(file);
      // History may list one file twice: each output is its own object (the completion refuses a key named
      // twice), so a repeat is stored again under its own arrival number.
      if (used.has(stored.objectKey) && this.stopReason === null) stored = await this.storeFile(file);
      used.add(stored.objectKey);
      // History's names (an early store keyed by folder and name may have come from another node's frame).
      outputs.push({ ...stored, index, nodeId: file.nodeId, filename: file.filename, type: file.type });
      if (this.stopReason !== null) break;
    }
    if (this.stopReason !== null) {
      await this.progress.flush();
      return await this.afterStop();
    }
    traceJob(this.job.id, 'outputs stored');
    // The last progress not yet reported (fraction 1), the `output` events and `done`, in that order, in one
    // commit: the progress is in the event log before the outputs, as it happened, with no commit of its own.
    const last = (await this.progress.take()) ?? undefined;
    const completed = await this.report(() => this.channel.complete(this.job.id, outputs, last));
    traceJob(this.job.id, 'completion reported');
    return this.result(completed, false);
  }

  /**
   * A terminal report is retried through a network blip until the lease would have run out: the store's
   * compare-and-set makes a repeat harmless, while giving up would turn a finished job into a released one
   * and run it again.
   */
  private async report<T>(call: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.job.leaseMs;
    const backoff = new Backoff({ minMs: 100, maxMs: 2000 });
    for (;;) {
      try {
        return await call();
      } catch (err) {
        const delay = backoff.next();
        if (
          err instanceof LeaseLostError ||
          err instanceof OutputStoreError ||
          Date.now() + delay > deadline
        ) {
          throw err;
        }
        if (backoff.attempts === 1)
          this.log.warn({ jobId: this.job.id, err: String(err) }, 'report failed; retrying');
        await pause(delay);
      }
    }
  }

  /** The job was stopped from outside this run: report exactly what the reason calls for. */
  private async afterStop(): Promise<RunJobResult> {
    // A cancelled or failed job's stored files are deleted when it ends: none may land after that.
    await this.settleUploads();
    switch (this.stopReason) {
      case 'cancel':
        return this.result(await this.report(() => this.channel.finishCancel(this.job.id)), false);
      case 'timeout':
        return await this.fail({
          code: 'timeout',
          message: `the job ran longer than ${this.options.timeoutMs} ms`,
        });
      case 'shutdown':
        return await this.release('the worker is stopping', false, true);
      case 'lost':
      case null:
        // Another worker may hold the job now: report nothing.
        return { outcome: 'lost', comfyUnhealthy: false };
    }
  }

  private async handleError(err: unknown): Promise<RunJobResult> {
    if (err instanceof LeaseLostError) return { outcome: 'lost', comfyUnhealthy: false };
    if (this.stopReason !== null) return await this.afterStop();
    if (err instanceof ComfyRejectedError) {
      const first = err.nodeErrors[0];
      return await this.fail({
        code: 'workflow_invalid',
        message: err.message,
        nodeId: first?.nodeId,
        ...(err.details.length > 0 ? { details: err.details } : {}),
      });
    }
    if (err instanceof WorkflowRewriteError) {
      return await this.fail({ code: 'workflow_invalid', message: err.message, nodeId: err.nodeIds[0] });
    }
    if (err instanceof OutputStoreError)
      return await this.fail({ code: 'output_store_failed', message: err.message });
    if (err instanceof ModelFetchError)
      return await this.fail({ code: 'model_fetch_failed', message: err.message });
    if (err instanceof ComfyUnavailableError)
      return await this.release(`ComfyUI unavailable: ${err.message}`, true);
    this.log.warn({ jobId: this.job.id, err: String(err) }, 'unexpected error while running the job');
    return await this.release(`agent error: ${err instanceof Error ? err.message : String(err)}`, false);
  }

  private async fail(error: JobError): Promise<RunJobResult> {
    await this.settleUploads();
    await this.progress.flush();
    return this.result(await this.report(() => this.channel.fail(this.job.id, error)), false);
  }

  private async release(reason: string, comfyUnhealthy: boolean, voluntary = false): Promise<RunJobResult> {
    // A release that ends the job (its last attempt, or a cancel) deletes its stored files too.
    await this.settleUploads();
    this.progress.stop();
    this.log.warn({ jobId: this.job.id, reason }, 'releasing the job');
    const report = await this.channel.release(this.job.id, reason, voluntary);
    return { ...this.result(report, comfyUnhealthy), outcome: report.kind === 'lost' ? 'lost' : 'released' };
  }

  private result(report: ReportResult, comfyUnhealthy: boolean): RunJobResult {
    if (report.kind === 'lost') return { outcome: 'lost', comfyUnhealthy };
    const outcome = report.status === 'queued' || report.status === 'running' ? 'released' : report.status;
    return { outcome, comfyUnhealthy };
  }
}
