/**
 * ComfyServer over ComfyUI's HTTP + WebSocket protocol (comfyui-protocol.md). One instance per server: it owns
 * one WebSocket (one clientId) shared by all its prompts, and an HTTP connection pool.
 */
import { randomUUID } from 'node:crypto';
import { FormData } from 'undici';
import type { Workflow } from './workflow.js';
import {
  ComfyUnavailableError,
  type ComfyOutputFile,
  type ComfyServer,
  type NodeCatalog,
  type PromptOutcome,
  type QueuedPrompt,
  type RunPromptOptions,
} from './contract.js';
import { fileInputCatalog, type FileInputCatalog } from './file-inputs.js';
import { ComfyHttp, errorText, expectOk } from './http.js';
import { parseNodeDefinitions, type NodeDefinition } from './node-definitions.js';
import { mayBeOutputNode, outputNodeFlags, type OutputNodeFlags } from './output-nodes.js';
import { followPrompt, type FollowContext } from './prompt-follower.js';
import { PromptFrames } from './prompt-frames.js';
import { readQueue, readQueueState, stopPrompt } from './prompt-state.js';
import { rejectionFromBody, rejectionFromPartial } from './rejection.js';
import {
  objectInfoSchema,
  promptAcceptedSchema,
  promptRejectedSchema,
  systemStatsSchema,
  uploadAnswerSchema,
} from './schemas.js';
import { ComfySocket, type ReconnectPolicy } from './socket.js';
import { traceJob } from '../util/job-trace.js';

export interface ComfyClientOptions {
  /** The WebSocket clientId sent with every prompt (default: a random UUID per instance). */
  clientId?: string;
  /**
   * Bound of each HTTP call (default 30 s): for its headers, for any pause in its body, and for an API call as a
   * whole. A `/view` download is not cut off while its bytes keep coming (see transferCapMs); an input upload
   * may take this plus 1 s per MiB as a whole (at most transferCapMs).
   */
  requestTimeoutMs?: number;
  /**
   * The longest a `/view` download or an input upload may take while its bytes keep coming (default 1 h; a job's
   * timeout is usually sooner).
   */
  transferCapMs?: number;
  /** `/history` poll period while the socket is down or an end is near (default 250 ms). */
  historyPollMs?: number;
  /** Poll period while the socket is up, against missed frames (default 5 s). */
  watchdogPollMs?: number;
  /** How long a running prompt's server may stay unreachable before ComfyUnavailableError (default 10 s). */
  unreachableGraceMs?: number;
  /** WebSocket reconnects after a drop (default 8 attempts from 100 ms, doubling, capped at 10 s). */
  reconnect?: ReconnectPolicy;
}

/** A ComfyServer with the extras this implementation offers. */
export interface ComfyHttpServer extends ComfyServer {
  readonly clientId: string;
  /** Class names from `/object_info`, cached until `refresh` is asked for. */
  nodeTypes(options?: { refresh?: boolean }): Promise<Set<string>>;
  /** Node types and file inputs from `/object_info`, cached with nodeTypes. */
  nodeCatalog(options?: { refresh?: boolean }): Promise<NodeCatalog>;
  /** Node definitions from `/object_info` (same cache as nodeTypes). */
  nodeDefinitions(options?: { refresh?: boolean }): Promise<Map<string, NodeDefinition>>;
}

const SAFE_FILENAME = /^[^/\\]+$/;

/** Creates a client for the ComfyUI server at `url` (http or https, optionally with a path prefix). */
export function createComfyServer(url: string, opts: ComfyClientOptions = {}): ComfyHttpServer {
  return new HttpComfyServer(url, opts);
}

class HttpComfyServer implements ComfyHttpServer {
  readonly url: string;
  readonly clientId: string;
  private readonly http: ComfyHttp;
  private readonly socket: ComfySocket;
  private readonly follow: FollowContext;
  private readonly closing = new AbortController();
  private objectInfoCache: Promise<Record<string, unknown>> | null = null;
  /** The catalog of the cached /object_info, built once per load: every job's file-input check reads it. */
  private catalogCache: {
    info: Record<string, unknown>;
    types: readonly string[];
    fileInputs: FileInputCatalog;
  } | null = null;
  /**
   * The output-node flags of the last /object_info loaded, read once per load: every prompt's frames use them,
   * and a prompt never waits for an /object_info read (null until one succeeds: every cached node may then be an
   * output node).
   */
  private outputFlags: OutputNodeFlags | null = null;

  constructor(url: string, opts: ComfyClientOptions) {
    this.url = url;
    this.clientId = opts.clientId ?? randomUUID();
    const requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
    this.http = new ComfyHttp(url, requestTimeoutMs, opts.transferCapMs);
    const wsUrl = this.http.url('ws', { clientId: this.clientId });
    wsUrl.protocol = wsUrl.protocol === 'https:' ? 'wss:' : 'ws:';
    this.socket = new ComfySocket({
      url: wsUrl,
      reconnect: opts.reconnect ?? { maxAttempts: 8, baseMs: 100 },
      connectTimeoutMs: Math.min(requestTimeoutMs, 10_000),
    });
    this.follow = {
      http: this.http,
      socket: this.socket,
      clientId: this.clientId,
      pollMs: opts.historyPollMs ?? 250,
      watchdogMs: opts.watchdogPollMs ?? 5_000,
      unreachableGraceMs: opts.unreachableGraceMs ?? 10_000,
      interruptRetryMs: 1_000,
      closed: this.closing.signal,
    };
  }

  async health(): Promise<{ ok: boolean; detail: string }> {
    try {
      const stats = await this.http.getJson('system_stats', systemStatsSchema);
      const devices = stats.devices.map((d) => d.name).join(', ') || 'no devices';
      return {
        ok: true,
        detail: `ComfyUI ${stats.system.comfyui_version ?? '(version unknown)'} on ${devices}`,
      };
    } catch (error) {
      return { ok: false, detail: errorText(error) };
    }
  }

  async nodeTypes(options: { refresh?: boolean } = {}): Promise<Set<string>> {
    return (await this.nodeCatalog(options)).types;
  }

  async nodeCatalog(options: { refresh?: boolean } = {}): Promise<NodeCatalog> {
    const info = await this.objectInfo(options);
    if (this.catalogCache?.info !== info) {
      this.catalogCache = { info, types: Object.keys(info), fileInputs: fileInputCatalog(info) };
    }
    // The file-input catalog is read-only and shared; the type set is the caller's to keep or change.
    return { types: new Set(this.catalogCache.types), fileInputs: this.catalogCache.fileInputs };
  }

  async nodeDefinitions(options: { refresh?: boolean } = {}): Promise<Map<string, NodeDefinition>> {
    return parseNodeDefinitions(await this.objectInfo(options));
  }

  private async objectInfo(options: { refresh?: boolean }): Promise<Record<string, unknown>> {
    this.assertOpen();
    if (this.objectInfoCache === null || options.refresh === true) {
      const loading = this.http.getJson('object_info', objectInfoSchema);
      this.objectInfoCache = loading;
      loading.then(
        (info) => {
          if (this.objectInfoCache === loading) this.outputFlags = outputNodeFlags(info);
        },
        // A failed load must not stay cached.
        () => {
          if (this.objectInfoCache === loading) this.objectInfoCache = null;
        },
      );
    }
    return await this.objectInfoCache;
  }

  async uploadInput(
    bytes: Buffer,
    filename: string,
    subfolder: string,
    signal?: AbortSignal,
  ): Promise<string> {
    this.assertOpen();
    if (!SAFE_FILENAME.test(filename) || filename === '..' || filename === '.') {
      throw new TypeError(`upload filename "${filename}" must be a plain file name`);
    }
    const form = new FormData();
    form.append('image', new Blob([bytes]), filename);
    form.append('type', 'input');
    form.append('subfolder', subfolder);
    // Without overwrite, different bytes under an existing name are silently renamed (`x (1).png`).
    form.append('overwrite', 'true');
    // Bound by the size (a large input on a slow link) and ended by the job's stop (a cancel, its timeout).
    const response = await this.http.request('upload/image', {
      method: 'POST',
      form,
      uploadBytes: bytes.length,
      signal,
    });
    await expectOk(response, 'POST /upload/image');
    const answer = await this.http.readJson(response, uploadAnswerSchema, 'POST /upload/image');
    return answer.subfolder === '' ? answer.name : `${answer.subfolder}/${answer.name}`;
  }

  async runPrompt(workflow: Workflow, options: RunPromptOptions): Promise<PromptOutcome> {
    this.assertOpen();
    if (options.signal?.aborted === true) return { kind: 'interrupted' };
    // Socket first and listening before the submit, so no early frame is missed; a failed connect only means
    // polling does the work.
    await this.socket.ensureOpen();
    // Aborted while the socket opened (a fleet preload stopped by a claimed job): nothing was sent.
    if (aborted(options.signal)) return { kind: 'interrupted' };
    const frames = new PromptFrames(this.socket, options.promptId, {
      onProgress: options.onProgress,
      onNode: options.onNode,
      mayBeOutputNode: mayBeOutputNode(workflow, this.outputFlags),
    });
    try {
      const comfyPromptId = await this.submit(workflow, options.promptId);
      frames.retarget(comfyPromptId);
      options.onQueued?.(comfyPromptId);
      return await followPrompt(this.follow, comfyPromptId, frames, options.signal);
    } finally {
      frames.close();
    }
  }

  async download(file: ComfyOutputFile, signal?: AbortSignal, maxBytes = Infinity): Promise<Buffer> {
    this.assertOpen();
    const query = { filename: file.filename, subfolder: file.subfolder, type: file.type };
    const response = await this.http.request('view', { query, transfer: true, signal });
    const what = `GET /view ${file.subfolder}/${file.filename}`;
    await expectOk(response, what);
    return await this.http.readBytes(response, what, maxBytes);
  }

  async close(): Promise<void> {
    if (this.closing.signal.aborted) return;
    this.closing.abort();
    await this.socket.close();
    await this.http.close();
  }

  /** POST /prompt; returns the id the server uses (servers that ignore `prompt_id` choose their own). */
  private async submit(workflow: Workflow, promptId: string): Promise<string> {
    traceJob(promptId, 'prompt submit');
    const response = await this.http.request('prompt', {
      method: 'POST',
      json: { prompt: workflow, client_id: this.clientId, prompt_id: promptId },
    });
    if (response.status === 400) {
      const body = await this.http.readJson(response, promptRejectedSchema, 'POST /prompt');
      throw rejectionFromBody(body, workflow);
    }
    await expectOk(response, 'POST /prompt');
    const accepted = await this.http.readJson(response, promptAcceptedSchema, 'POST /prompt');
    if (Object.keys(accepted.node_errors).length > 0) {
      // ComfyUI queued the valid outputs anyway: take the prompt back before reporting the rejection.
      await this.withdraw(accepted.prompt_id).catch(() => undefined);
      throw rejectionFromPartial(accepted.node_errors, workflow);
    }
    return accepted.prompt_id;
  }

  async queuedPrompts(): Promise<QueuedPrompt[]> {
    this.assertOpen();
    return await readQueue(this.http);
  }

  async stopQueuedPrompt(prompt: QueuedPrompt): Promise<void> {
    this.assertOpen();
    await stopPrompt(this.http, prompt.promptId, prompt.state);
  }

  private async withdraw(promptId: string): Promise<void> {
    const state = await readQueueState(this.http, promptId);
    if (state !== 'absent') await stopPrompt(this.http, promptId, state);
  }

  private assertOpen(): void {
    if (this.closing.signal.aborted) throw new ComfyUnavailableError('the ComfyUI client is closed');
  }
}

/** Read through a call, so a check after an `await` is not narrowed away by one made before it. */
function aborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}
