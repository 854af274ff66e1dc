/**
 * The JobChannel of an agent that can only connect out: HTTP to the control plane's worker API
 * (`<server>/v1/worker`). Job offers and cancels arrive by long-poll, so no inbound port and no special proxy
 * support is needed.
 *
 * Calls go through undici's dispatcher-level `request` on a keep-alive pool of the channel's own (as the ComfyUI
 * client does, src/comfy/http.ts), not the global `fetch`: no Request/Response objects or web streams per call.
 * Redirects are not followed (the worker API does not redirect; a 3xx is an error answer).
 */
import { randomBytes } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { Agent, type Dispatcher } from 'undici';
import type { NodeDefinition } from '../comfy/node-definitions.js';
import { ERROR_BODY_CAP, readCapped } from '../comfy/http.js';
import { z } from 'zod';
import type { JobError, JobInput, JobOutput, JobProgress } from '../jobs/types.js';
import type { LeaseState, ModelFile, WorkerStatus } from '../store/contract.js';
import type { ModelRef } from '../models/model-refs.js';
import {
  LeaseLostError,
  OutputStoreError,
  type JobChannel,
  type LeasedJob,
  type LeftoverAnswer,
  type ModelReport,
  type OutputFile,
  type ReportResult,
  type StoredOutput,
  type WorkerIdentity,
} from '../workers/job-channel.js';
import { Backoff, pause } from '../util/backoff.js';
import { callBound } from '../util/call-bound.js';
import * as wire from '../workers/worker-protocol.js';

export interface RemoteJobChannelOptions {
  /** The control plane's base URL, e.g. `https://arrakis.example.com`. */
  serverUrl: string;
  /** A worker token `wkt_...` issued by the admin API. */
  token: string;
  /** Time limit of an ordinary control call, not a long-poll nor a file transfer (default 30 s). */
  requestTimeoutMs?: number;
  /**
   * Time limit of a file transfer: an output upload or an input download (default: the server's 5 minutes for a
   * request to arrive, plus `requestTimeoutMs` for the answer, so the server's limit is the one that applies).
   */
  transferTimeoutMs?: number;
  /** How long each cancel long-poll waits before it is renewed (default 20 s). */
  cancelPollMs?: number;
}

/** A non-2xx answer from the worker API, with its problem+json code when there was one. */
export class WorkerApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | null,
    detail: string,
  ) {
    super(`worker API answered ${status}${code === null ? '' : ` ${code}`}: ${detail}`);
    this.name = 'WorkerApiError';
  }
}

const problem = z.object({ code: z.string().optional(), detail: z.string().optional() });

interface CallOptions {
  json?: unknown;
  bytes?: Buffer;
  contentType?: string;
  signal?: AbortSignal;
  /** Long-polls and file transfers set their own limit; others get `requestTimeoutMs`. */
  timeoutMs?: number;
}

const REQUEST_TIMEOUT_MS = 30_000;

/**
 * How long a lost claim is listed on the claims after it (RemoteJobChannel.claim): past the longest a claim
 * call waits (wire.MAX_LONG_POLL_MS plus its 15 s), so a claim a proxy delivered late is still covered.
 */
export const LOST_CLAIM_LISTED_MS = 5 * 60_000;
/**
 * After a control plane refused named claims, they go out unnamed this long before naming is tried again. Longer
 * than LOST_CLAIM_LISTED_MS: a claim the previous release's replica leases keeps the job's earlier claim id
 * (migration 014), and by the time this channel names claims again it lists none of the ids it had.
 */
export const UNNAMED_CLAIMS_MS = 10 * 60_000;

/**
 * How long a job's cancel long-poll may still answer after the run has ended. A server of this release answers
 * it as soon as the job's end commits (`lost`), so the poll ends by itself and its connection is reused; aborting
 * a request in flight would close the connection instead (a TCP connect and teardown per job). A server that does
 * not wake the poll at the job's end has it aborted after this grace.
 */
export const CANCEL_POLL_GRACE_MS = 2_000;

/** An answer's body, read exactly once by one of the readers below. */
type Body = Dispatcher.ResponseData['body'];

/** Talks to the worker API over HTTP; cancels are heard through one long-poll per running job. */
export class RemoteJobChannel implements JobChannel {
  private readonly base: string;
  private readonly origin: string;
  private readonly pathPrefix: string;
  private readonly closing = new AbortController();
  /**
   * Own keep-alive connection pool, so close() leaves no sockets behind. undici's own headers and body timers
   * (300 s by default, the headers one counted from the start of an upload) are off: every call is bounded as a
   * whole by its own limit (`call`), which for a transfer may be longer.
   */
  private readonly agent = new Agent({ keepAliveTimeout: 10_000, headersTimeout: 0, bodyTimeout: 0 });
  private workerId: string | null = null;
  /** Whether the last claim ended without an answer this agent could read (see claim). */
  private claimUnanswered = false;
  /** The claims that ended without an answer within LOST_CLAIM_LISTED_MS (see claim), latest last. */
  private lostClaims: Array<{ id: string; at: number }> = [];
  /** Claims go out unnamed until then (ms), after a control plane refused named claims (a previous release). */
  private unnamedUntil = 0;

  constructor(private readonly options: RemoteJobChannelOptions) {
    this.base = `${options.serverUrl.replace(/\/+$/, '')}/v1/worker`;
    const url = new URL(this.base);
    this.origin = url.origin;
    this.pathPrefix = url.pathname;
  }

  async register(identity: WorkerIdentity): Promise<string> {
    const body = { name: identity.name, pool: identity.pool ?? undefined, comfy_url: identity.comfyUrl };
    const reply = wire.registerReply.parse(await this.call('POST', '/register', { json: body }, json));
    this.workerId = reply.worker_id;
    return reply.worker_id;
  }

  /** Tells the control plane which nodes this worker's ComfyUI has (it converts UI-format workflows with them). */
  async putNodeDefinitions(definitions: readonly NodeDefinition[]): Promise<void> {
    await this.call('PUT', '/node-definitions', { json: wire.nodeDefinitionsToWire(definitions) }, drain);
  }

  async setStatus(status: WorkerStatus): Promise<void> {
    await this.call('POST', '/status', { json: { status } }, drain);
  }

  /**
   * Waits up to `waitMs` for a job. A claim that ends without an answer this agent could read (a dropped
   * connection, a timeout, a server error, an answer it cannot parse) may have leased a job all the same. Each
   * claim carries an id of its own (`claim_id`, recorded with the lease it makes), and the claims after it list
   * the ids of the claims lost in the last LOST_CLAIM_LISTED_MS (`lost_claims`, the latest MAX_LOST_CLAIMS): the
   * control plane gives back exactly the jobs those claims leased, at once rather than at their leases' expiry,
   * however late the listing claim reaches it. A lost claim stays listed after a later claim was answered: a
   * proxy may still deliver it, and it may lease then. The control plane's own 4xx answer leased nothing (it
   * refused the request itself): that claim is not listed. A proxy's 4xx (a 408 or 499 without the API's problem
   * body) may hide a lease: it is.
   *
   * A control plane of the previous release refuses the ids with 400: for UNNAMED_CLAIMS_MS this channel then
   * claims as that release's agents do, saying only that its last claim was lost (`lost_claim`), which such a
   * control plane honours for leases that began before the flagged claim arrived, within seconds of its arrival;
   * then it names its claims again (a rolling upgrade may have finished). A control plane older still refuses that
   * field too, once: its 400 clears the flag.
   */
  async claim(waitMs: number, signal?: AbortSignal): Promise<LeasedJob | null> {
    const wait = Math.min(Math.max(0, Math.floor(waitMs)), wire.MAX_LONG_POLL_MS);
    const now = Date.now();
    this.lostClaims = this.lostClaims.filter((c) => now - c.at < LOST_CLAIM_LISTED_MS);
    const body = this.claimBody(wait, now);
    this.claimUnanswered = true;
    // Listed as lost from the start: an answer read takes it off, and a refusal by the control plane too.
    if (body.claim_id !== undefined) this.lostClaims.push({ id: body.claim_id, at: now });
    try {
      const reply = wire.claimReply.parse(
        await this.call('POST', '/claim', { json: body, signal, timeoutMs: wait + 15_000 }, json),
      );
      this.claimUnanswered = false;
      this.lostClaims = this.lostClaims.filter((c) => c.id !== body.claim_id);
      return reply.job === null ? null : wire.leasedJobFromWire(reply.job);
    } catch (err) {
      if (refusedByControlPlane(err)) {
        this.lostClaims = this.lostClaims.filter((c) => c.id !== body.claim_id);
        // An unnamed claim's flag is answered by the refusal; the named ones lost before this still may lease.
        this.claimUnanswered = body.claim_id !== undefined && this.lostClaims.length > 0;
        if (body.claim_id !== undefined && err instanceof WorkerApiError && err.status === 400) {
          this.unnamedUntil = now + UNNAMED_CLAIMS_MS;
        }
      }
      this.lostClaims = this.lostClaims.slice(-wire.MAX_LOST_CLAIMS);
      throw err;
    }
  }

  /** The next claim's body: named, with the lost claims' names, or as the previous release sent it. */
  private claimBody(
    wait: number,
    now: number,
  ): { wait_ms: number; claim_id?: string; lost_claims?: string[]; lost_claim?: true } {
    if (now < this.unnamedUntil)
      return this.claimUnanswered ? { wait_ms: wait, lost_claim: true } : { wait_ms: wait };
    const named = { wait_ms: wait, claim_id: `clm_${randomBytes(12).toString('base64url')}` };
    if (this.lostClaims.length > 0) return { ...named, lost_claims: this.lostClaims.map((c) => c.id) };
    // The first named claim after unnamed ones, the last of which was lost: it carries that claim's flag.
    return this.claimUnanswered ? { ...named, lost_claim: true } : named;
  }

  async reportModels(report: ModelReport): Promise<ModelRef[]> {
    const reply = await this.call('POST', '/models', { json: wire.modelReportToWire(report) }, json);
    return wire.modelsReply.parse(reply).prefetch;
  }

  async modelFile(name: string): Promise<ModelFile | null> {
    try {
      const f = wire.modelFileReply.parse(
        await this.call('GET', `/models/${encodeURIComponent(name)}`, {}, json),
      );
      return { name: f.name, kind: f.kind, url: f.url, sha256: f.sha256, size: f.size, createdAt: 0 };
    } catch (err) {
      if (err instanceof WorkerApiError && err.status === 404) return null;
      throw err;
    }
  }

  async heartbeat(jobId: string, signal?: AbortSignal): Promise<LeaseState> {
    const path = `/jobs/${encodeURIComponent(jobId)}/heartbeat`;
    return wire.leaseReply.parse(await this.call('POST', path, { json: {}, signal }, json)).lease;
  }

  async progress(jobId: string, progress: JobProgress): Promise<boolean> {
    const path = `/jobs/${encodeURIComponent(jobId)}/progress`;
    return wire.progressReply.parse(await this.call('POST', path, { json: progress }, json)).held;
  }

  async getInput(jobId: string, input: JobInput, signal?: AbortSignal): Promise<Buffer> {
    const path = `/jobs/${encodeURIComponent(jobId)}/inputs/${encodeURIComponent(input.name)}`;
    return await this.call('GET', path, { timeoutMs: this.transferTimeoutMs(), signal }, bytes).catch(
      leaseLostOn409(jobId),
    );
  }

  async storeOutput(jobId: string, file: OutputFile): Promise<StoredOutput> {
    const query = new URLSearchParams({ node_id: file.nodeId, filename: file.filename, type: file.type });
    const path = `/jobs/${encodeURIComponent(jobId)}/output-files/${file.seq}?${query.toString()}`;
    try {
      const upload = {
        bytes: file.bytes,
        contentType: file.contentType,
        timeoutMs: this.transferTimeoutMs(),
      };
      const reply = await this.call('PUT', path, upload, json);
      return wire.storedOutputFromWire(wire.storedOutputWire.parse(reply));
    } catch (err) {
      if (err instanceof WorkerApiError && err.status === 409) throw new LeaseLostError(jobId);
      // Any other refusal of the bytes (size limit, storage down) is the output store failing.
      if (err instanceof WorkerApiError) throw new OutputStoreError(err.message, { cause: err });
      throw err;
    }
  }

  complete(jobId: string, outputs: JobOutput[], progress?: JobProgress): Promise<ReportResult> {
    return this.report(jobId, 'complete', { outputs: outputs.map(wire.outputToWire), progress });
  }

  fail(jobId: string, error: JobError): Promise<ReportResult> {
    return this.report(jobId, 'fail', { error: wire.jobErrorToWire(error) });
  }

  finishCancel(jobId: string): Promise<ReportResult> {
    return this.report(jobId, 'finish-cancel', {});
  }

  release(jobId: string, reason: string, voluntary = false): Promise<ReportResult> {
    return this.report(jobId, 'release', { reason: reason.slice(0, 1000), voluntary });
  }

  async releaseLeftover(jobId: string, attempt: number, signal?: AbortSignal): Promise<LeftoverAnswer> {
    const path = `/jobs/${encodeURIComponent(jobId)}/leftover`;
    return wire.leftoverFromWire(await this.call('POST', path, { json: { attempt }, signal }, json));
  }

  /**
   * Unsubscribing stops `cb` at once, and lets the poll under way answer for CANCEL_POLL_GRACE_MS before it is
   * aborted (see there); closing the channel aborts it at once.
   */
  onCancel(jobId: string, cb: () => void): () => void {
    const stop = new AbortController();
    const onClose = (): void => stop.abort(this.closing.signal.reason);
    if (this.closing.signal.aborted) onClose();
    else this.closing.signal.addEventListener('abort', onClose, { once: true });
    let watching = true;
    let grace: NodeJS.Timeout | undefined;
    const poll = this.pollCancel(
      jobId,
      () => watching && cb(),
      () => watching,
      stop.signal,
    );
    void poll.finally(() => {
      clearTimeout(grace);
      this.closing.signal.removeEventListener('abort', onClose);
    });
    return () => {
      if (!watching) return;
      watching = false;
      grace = setTimeout(() => stop.abort(), CANCEL_POLL_GRACE_MS);
      grace.unref();
    };
  }

  async close(): Promise<void> {
    this.closing.abort();
    await this.agent.destroy();
  }

  /**
   * Re-opens the cancel long-poll until a cancel arrives, the lease is gone, or the caller unsubscribes (then the
   * poll under way may still answer, and none is opened after it).
   */
  private async pollCancel(
    jobId: string,
    cb: () => void,
    watching: () => boolean,
    signal: AbortSignal,
  ): Promise<void> {
    const waitMs = Math.min(this.options.cancelPollMs ?? 20_000, wire.MAX_LONG_POLL_MS);
    const path = `/jobs/${encodeURIComponent(jobId)}/cancel?wait_ms=${waitMs}`;
    // The heartbeat also carries cancels; a broken poll only waits a little before trying again.
    const backoff = new Backoff({ minMs: 500, maxMs: 5000 });
    while (!signal.aborted && watching()) {
      try {
        const reply = await this.call('GET', path, { signal, timeoutMs: waitMs + 15_000 }, json);
        const lease = wire.leaseReply.parse(reply).lease;
        backoff.reset();
        if (lease === 'cancel_requested' && !signal.aborted) cb();
        if (lease !== 'held') return;
      } catch {
        await pause(backoff.next(), signal);
      }
    }
  }

  private async report(jobId: string, verb: string, body: unknown): Promise<ReportResult> {
    const path = `/jobs/${encodeURIComponent(jobId)}/${verb}`;
    const reply = wire.reportReply.parse(await this.call('POST', path, { json: body }, json));
    return reply.kind === 'lost' ? { kind: 'lost' } : { kind: 'finished', status: reply.status };
  }

  /**
   * A large file on a slow link must not be cut off by the short limit of a control call: a transfer may take
   * as long as the server lets a request arrive, and then an ordinary call's time for the answer.
   */
  private transferTimeoutMs(): number {
    return (
      this.options.transferTimeoutMs ??
      wire.UPLOAD_ARRIVAL_MS + (this.options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS)
    );
  }

  /**
   * One call to the worker API, its answer read by `read` within the call's bound: the time limit and the
   * channel's and caller's signals end the request and its body alike, and the bound (its timer, its listeners
   * on those signals) is cleared as soon as the body has been read or has failed, not when the limit runs out.
   */
  private async call<T>(
    method: string,
    path: string,
    options: CallOptions,
    read: (body: Body) => Promise<T>,
  ): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.options.token}` };
    if (this.workerId !== null) headers[wire.WORKER_ID_HEADER] = this.workerId;
    let body: string | Buffer | undefined;
    if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.json);
    } else if (options.bytes !== undefined) {
      headers['content-type'] = options.contentType ?? 'application/octet-stream';
      body = options.bytes;
    }
    const limitMs = options.timeoutMs ?? this.options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
    const bound = callBound(limitMs, this.closing.signal, options.signal);
    const signal = bound.signal;
    try {
      const res = await this.agent
        .request({ origin: this.origin, path: `${this.pathPrefix}${path}`, method, headers, body, signal })
        .catch((err: unknown) => {
          // Ended by the limit or a signal (the pool of a closed channel included): the signal's reason, as fetch.
          if (signal.aborted) throw signal.reason;
          throw new Error(`cannot reach the control plane at ${this.base}: ${reason(err)}`, { cause: err });
        });
      if (res.statusCode >= 200 && res.statusCode < 300) return await read(res.body);
      // Only the head of an error answer is read: a broken proxy's endless page is cut off, not buffered.
      const parsed = problem.safeParse(parseJson(await readCapped(res.body, ERROR_BODY_CAP)));
      const statusText = STATUS_CODES[res.statusCode] ?? '';
      const code = parsed.success ? (parsed.data.code ?? null) : null;
      const detail = parsed.success ? (parsed.data.detail ?? statusText) : statusText;
      throw new WorkerApiError(res.statusCode, code, detail);
    } finally {
      bound.end();
    }
  }
}

/** Answer readers for `call`: JSON to parse with a wire schema, raw bytes, or a body read only to its end. */
const json = (body: Body): Promise<unknown> => body.json();
const bytes = async (body: Body): Promise<Buffer> => Buffer.from(await body.arrayBuffer());
const drain = async (body: Body): Promise<void> => {
  await body.arrayBuffer();
};

/** `text` as JSON, or null when it is not (a cut-off or non-JSON error answer). */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** Why a connection failed: the innermost message (`connect ECONNREFUSED 127.0.0.1:8000`). */
function reason(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return err.cause instanceof Error ? err.cause.message : err.message;
}

/** A 4xx answer with the API's problem code: the control plane refused the request before doing anything. */
function refusedByControlPlane(err: unknown): boolean {
  return err instanceof WorkerApiError && err.status >= 400 && err.status < 500 && err.code !== null;
}

/** Turns the API's 409 (job not leased to this worker) into LeaseLostError; rethrows anything else. */
function leaseLostOn409(jobId: string): (err: unknown) => never {
  return (err: unknown) => {
    if (err instanceof WorkerApiError && err.status === 409) throw new LeaseLostError(jobId);
    throw err;
  };
}
