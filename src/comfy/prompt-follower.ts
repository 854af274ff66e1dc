/**
 * Follows one queued prompt to its end. The WebSocket only wakes the follower early (progress, end hints,
 * socket state changes); every decision comes from `/history` and `/queue`, polled fast while the socket is
 * down, after an end hint or after a cancel, and slowly otherwise as a watchdog against missed frames.
 */
import { ComfyUnavailableError, type PromptOutcome, type RunPromptOptions } from './contract.js';
import { nodeOutputFiles, outcomeFromHistory } from './history-outcome.js';
import type { ComfyHttp } from './http.js';
import { readPromptState, stopPrompt, type PromptState } from './prompt-state.js';
import type { WsFrame } from './schemas.js';
import type { ComfySocket } from './socket.js';
import { traceJob } from '../util/job-trace.js';

export interface FollowContext {
  http: ComfyHttp;
  socket: ComfySocket;
  /** Poll period while the socket is down or the end is near. */
  pollMs: number;
  /** Poll period while the socket is up (a watchdog: frames should wake us first). */
  watchdogMs: number;
  /** How long the server may stay unreachable before the prompt is given up as unavailable. */
  unreachableGraceMs: number;
  /** Re-send a targeted interrupt this often while the prompt keeps running after a cancel. */
  interruptRetryMs: number;
  /** Aborted when the client closes. */
  closed: AbortSignal;
}

/** A sleep that a kick ends early; a kick while awake makes the next sleep return at once. */
class Waker {
  private kicked = false;
  private wake: (() => void) | null = null;

  kick(): void {
    if (this.wake === null) this.kicked = true;
    else this.wake();
  }

  sleep(ms: number): Promise<void> {
    if (this.kicked) {
      this.kicked = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.wake?.(), ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
    });
  }
}

const END_HINTS: ReadonlySet<WsFrame['type']> = new Set([
  'execution_success',
  'execution_error',
  'execution_interrupted',
]);

function isEndHint(frame: WsFrame): boolean {
  return END_HINTS.has(frame.type) || (frame.type === 'executing' && frame.data.node == null);
}

type FollowOptions = Pick<RunPromptOptions, 'onProgress' | 'onNode' | 'signal'>;

function relayNodeEvent(frame: WsFrame, onNode: NonNullable<RunPromptOptions['onNode']>): void {
  if (frame.type === 'execution_cached') onNode({ kind: 'cached', nodes: frame.data.nodes ?? [] });
  else if (frame.type === 'executing') onNode({ kind: 'executing', node: frame.data.node ?? null });
  else if (frame.type === 'executed') {
    onNode({
      kind: 'executed',
      node: frame.data.node,
      files: nodeOutputFiles(frame.data.node, frame.data.output),
    });
  }
}

/** Follows a queued prompt until history (or its disappearance) says how it ended. */
export async function followPrompt(
  ctx: FollowContext,
  promptId: string,
  options: FollowOptions,
): Promise<PromptOutcome> {
  const waker = new Waker();
  const hint = { seen: false };
  const offFrame = ctx.socket.onFrame((frame) => {
    const framePrompt =
      frame.data.prompt_id ?? (frame.type === 'progress' ? ctx.socket.runningPromptId : null);
    if (framePrompt !== promptId) return;
    if (frame.type === 'progress' && options.onProgress !== undefined) {
      const { value, max, node } = frame.data;
      options.onProgress({ value, max, node: node ?? null });
    }
    if (options.onNode !== undefined) relayNodeEvent(frame, options.onNode);
    if (isEndHint(frame)) {
      hint.seen = true;
      waker.kick();
    }
  });
  // A reconnect may follow lost frames, a drop means polling must start now: both wake the loop.
  const offState = ctx.socket.onState(() => waker.kick());
  const kick = (): void => waker.kick();
  options.signal?.addEventListener('abort', kick);
  ctx.closed.addEventListener('abort', kick);
  try {
    return await pollUntilEnd(ctx, promptId, options.signal, waker, hint);
  } finally {
    offFrame();
    offState();
    options.signal?.removeEventListener('abort', kick);
    ctx.closed.removeEventListener('abort', kick);
  }
}

async function pollUntilEnd(
  ctx: FollowContext,
  promptId: string,
  signal: AbortSignal | undefined,
  waker: Waker,
  hint: { seen: boolean },
): Promise<PromptOutcome> {
  let failingSince: number | null = null;
  let lastInterruptAt = -Infinity;
  for (;;) {
    if (ctx.closed.aborted)
      throw new ComfyUnavailableError('the ComfyUI client was closed while a prompt ran');
    const aborted = signal?.aborted === true;
    let state: PromptState | null = null;
    try {
      traceJob(promptId, 'state read sent');
      state = await readPromptState(ctx.http, promptId);
      traceJob(promptId, `state read: ${state.kind}`);
      failingSince = null;
      if (state.kind === 'finished')
        return aborted ? { kind: 'interrupted' } : outcomeFromHistory(state.entry);
      if (state.kind === 'absent') {
        // After our own queue delete the prompt leaves no history: that is the interrupt.
        return aborted
          ? { kind: 'interrupted' }
          : { kind: 'lost', reason: 'the prompt is neither queued nor in history (ComfyUI restarted?)' };
      }
      if (aborted && (state.kind === 'pending' || Date.now() - lastInterruptAt >= ctx.interruptRetryMs)) {
        if (state.kind === 'running') lastInterruptAt = Date.now();
        await stopPrompt(ctx.http, promptId, state.kind);
      }
    } catch (error) {
      if (!(error instanceof ComfyUnavailableError)) throw error;
      failingSince ??= Date.now();
      if (Date.now() - failingSince >= ctx.unreachableGraceMs) throw error;
    }
    const fast = aborted || hint.seen || state === null || !ctx.socket.isOpen;
    await waker.sleep(fast ? ctx.pollMs : ctx.watchdogMs);
  }
}
