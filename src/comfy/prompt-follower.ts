/**
 * Follows one queued prompt to its end. When the socket carried every frame of the prompt (prompt-frames.ts),
 * its `execution_success` or `execution_error` decides, with no HTTP read at all. Otherwise the decision comes
 * from `/history` and `/queue`, polled fast while the socket is down, after an end frame, after a reconnect or a
 * cancel, and slowly (a watchdog against frames a server never sent) while the socket is up.
 */
import { ComfyUnavailableError, type PromptOutcome } from './contract.js';
import { outcomeFromHistory } from './history-outcome.js';
import type { ComfyHttp } from './http.js';
import { readPromptState, stopPrompt, type PromptState } from './prompt-state.js';
import type { PromptFrames } from './prompt-frames.js';
import type { ComfySocket } from './socket.js';
import { traceJob } from '../util/job-trace.js';

export interface FollowContext {
  http: ComfyHttp;
  socket: ComfySocket;
  /** The clientId this client submits with: a history entry of another client's prompt is not this one's end. */
  clientId: string;
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

/** Follows a queued prompt until its frames (when complete) or history (or its disappearance) say how it ended. */
export async function followPrompt(
  ctx: FollowContext,
  promptId: string,
  frames: PromptFrames,
  signal: AbortSignal | undefined,
): Promise<PromptOutcome> {
  const waker = new Waker();
  // End frames and socket changes (a drop means polling must start now) wake the loop, as do cancels.
  const kick = (): void => waker.kick();
  frames.wake = kick;
  signal?.addEventListener('abort', kick);
  ctx.closed.addEventListener('abort', kick);
  try {
    return await pollUntilEnd(ctx, promptId, signal, waker, frames);
  } finally {
    frames.wake = () => undefined;
    signal?.removeEventListener('abort', kick);
    ctx.closed.removeEventListener('abort', kick);
  }
}

async function pollUntilEnd(
  ctx: FollowContext,
  promptId: string,
  signal: AbortSignal | undefined,
  waker: Waker,
  frames: PromptFrames,
): Promise<PromptOutcome> {
  let failingSince: number | null = null;
  let lastInterruptAt = -Infinity;
  // While the socket carries every frame of the prompt, nothing is read until an end frame, a cancel, a socket
  // change or a whole watchdog period without an end (a frame the server never sent).
  let quietUntil = Date.now() + ctx.watchdogMs;
  for (;;) {
    if (ctx.closed.aborted)
      throw new ComfyUnavailableError('the ComfyUI client was closed while a prompt ran');
    const aborted = signal?.aborted === true;
    if (!aborted) {
      const decided = frames.outcome;
      if (decided !== null) {
        traceJob(promptId, `outcome from frames: ${decided.kind}`);
        return decided;
      }
      const quiet = quietUntil - Date.now();
      if (frames.listening && !frames.endSeen && quiet > 0) {
        await waker.sleep(quiet);
        continue;
      }
    }
    let state: PromptState | null = null;
    try {
      traceJob(promptId, 'state read sent');
      state = await readPromptState(ctx.http, promptId, ctx.clientId);
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
    quietUntil = Date.now() + ctx.watchdogMs;
    const fast = aborted || frames.endSeen || state === null || !ctx.socket.isOpen;
    await waker.sleep(fast ? ctx.pollMs : ctx.watchdogMs);
  }
}
