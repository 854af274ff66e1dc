/**
 * The one WebSocket a ComfyServer client keeps to `/ws?clientId=`, shared by all its prompts. ComfyUI sends a
 * prompt's events only to the socket whose clientId the prompt was submitted with, so the id stays fixed and a
 * reconnect (bounded exponential backoff) replaces the old socket on the server. A lost frame is only detectable
 * around it: `generation` counts the connections opened and `malformedFrames` the text frames that did not
 * parse, so the prompt follower trusts a prompt's frames only when both stayed the same from before its submit
 * to its end, and confirms over HTTP otherwise.
 */
import WebSocket from 'ws';
import { Backoff } from '../util/backoff.js';
import { traceJob } from '../util/job-trace.js';
import type { WsFrame } from './schemas.js';
import { classifyWsMessage } from './ws-message.js';

export interface ReconnectPolicy {
  maxAttempts: number;
  baseMs: number;
}

export interface SocketOptions {
  url: URL;
  reconnect: ReconnectPolicy;
  connectTimeoutMs: number;
}

const MAX_BACKOFF_MS = 10_000;

export class ComfySocket {
  private readonly options: SocketOptions;
  private ws: WebSocket | null = null;
  private connecting: Promise<boolean> | null = null;
  private open = false;
  private closed = false;
  /** Delays between reconnects; its failure count is the number of reconnects since the socket was last open. */
  private readonly backoff: Backoff;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private readonly frameListeners = new Set<(frame: WsFrame) => void>();
  private readonly stateListeners = new Set<(open: boolean) => void>();
  private connections = 0;
  private malformed = 0;
  /** The prompt the server last said it runs: old servers send `progress` without a prompt_id. */
  runningPromptId: string | null = null;

  constructor(options: SocketOptions) {
    this.options = options;
    this.backoff = new Backoff({ minMs: options.reconnect.baseMs, maxMs: MAX_BACKOFF_MS });
  }

  get isOpen(): boolean {
    return this.open;
  }

  /** How many connections have opened: frames seen under one generation came in order over one connection. */
  get generation(): number {
    return this.connections;
  }

  /** How many text frames did not parse (bad JSON, or a known type in a shape not accepted). */
  get malformedFrames(): number {
    return this.malformed;
  }

  /** Subscribes to parsed frames; returns the unsubscribe function. */
  onFrame(listener: (frame: WsFrame) => void): () => void {
    this.frameListeners.add(listener);
    return () => this.frameListeners.delete(listener);
  }

  /** Subscribes to open/closed changes; returns the unsubscribe function. */
  onState(listener: (open: boolean) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  /** Resolves true once the socket is open, false if this attempt failed (callers then rely on polling). */
  ensureOpen(): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    if (this.open) return Promise.resolve(true);
    if (this.connecting !== null) return this.connecting;
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.backoff.reset();
    return this.connect();
  }

  private connect(): Promise<boolean> {
    const attempt = new Promise<boolean>((resolve) => {
      const ws = new WebSocket(this.options.url, { handshakeTimeout: this.options.connectTimeoutMs });
      this.ws = ws;
      ws.on('open', () => {
        this.connections += 1;
        this.open = true;
        this.backoff.reset();
        resolve(true);
        this.emitState(true);
      });
      ws.on('message', (data, isBinary) => this.handleMessage(data, isBinary));
      // 'close' always follows 'error', so the error itself needs no handling beyond not crashing.
      ws.on('error', () => resolve(false));
      ws.on('close', () => {
        resolve(false);
        this.handleClose(ws);
      });
    });
    this.connecting = attempt;
    void attempt.then(() => {
      if (this.connecting === attempt) this.connecting = null;
    });
    return attempt;
  }

  private handleMessage(data: WebSocket.RawData, isBinary: boolean): void {
    const buffer = Array.isArray(data)
      ? Buffer.concat(data)
      : Buffer.isBuffer(data)
        ? data
        : Buffer.from(new Uint8Array(data));
    const message = classifyWsMessage(buffer, isBinary);
    if (message.kind === 'malformed') this.malformed += 1;
    if (message.kind !== 'frame') return;
    const frame = message.frame;
    const framePrompt = frame.data.prompt_id;
    if (typeof framePrompt === 'string') {
      traceJob(
        framePrompt,
        `ws ${frame.type}${frame.type === 'executing' && frame.data.node == null ? ' null' : ''}`,
      );
    }
    if (frame.type === 'execution_start' || (frame.type === 'executing' && frame.data.node != null)) {
      this.runningPromptId = frame.data.prompt_id ?? this.runningPromptId;
    }
    for (const listener of this.frameListeners) {
      // A caller's progress callback that throws must not break the socket shared by other prompts.
      try {
        listener(frame);
      } catch {
        /* isolated on purpose */
      }
    }
  }

  private handleClose(ws: WebSocket): void {
    if (this.ws !== ws) return;
    this.ws = null;
    const wasOpen = this.open;
    this.open = false;
    if (wasOpen) this.emitState(false);
    if (this.closed || this.backoff.attempts >= this.options.reconnect.maxAttempts) return;
    const delay = this.backoff.next();
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      void this.connect();
    }, delay);
    // A forgotten client must not keep the process alive just to reconnect.
    this.reconnectTimer.unref();
  }

  private emitState(open: boolean): void {
    for (const listener of this.stateListeners) listener(open);
  }

  /** Closes the socket for good: no reconnects afterwards. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const ws = this.ws;
    if (ws === null || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      ws.once('close', () => resolve());
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close();
      setTimeout(() => {
        ws.terminate();
        resolve();
      }, 1_000).unref();
    });
  }
}
