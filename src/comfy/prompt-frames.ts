/**
 * What the WebSocket says about one prompt: progress and node events relayed to the caller, the end frames
 * that wake the follower, and the prompt's outcome when every one of its frames is known to have arrived.
 *
 * Subscribed before the prompt is submitted (Arrakis picks the prompt id), so a server that sends frames before
 * its `POST /prompt` answer loses none. The frames are complete when the socket was open at subscription and no
 * open/close, reconnect (`generation`) or malformed frame happened until the prompt's `execution_success` or
 * `execution_error`: the outcome is then built by outcomeFromHistory from what history would hold (the outputs
 * of the prompt's `executed` frames, keyed by node id; outcomeFromHistory orders them by node id, so both paths
 * list the same files at the same indexes). ComfyUI has sent `executed` for cached output nodes since its
 * August 2024 execution rewrite (commit 5cfe38f4, "Execution Model Inversion", execution.py `execute`); older
 * servers sent none, yet listed those nodes' outputs in history. So a success whose `execution_cached` names a
 * node that may be an output node (output-nodes.ts) and sent no `executed` is left to `/history`. Anything else
 * (a server that chose its own prompt id, a drop, an interrupt, an `executing` null without either) leaves the
 * outcome to `/history` too.
 */
import type { PromptOutcome, RunPromptOptions } from './contract.js';
import { nodeOutputFiles, outcomeFromHistory } from './history-outcome.js';
import { historyEntrySchema, type WsFrame } from './schemas.js';
import type { ComfySocket } from './socket.js';

export type FrameOptions = Pick<RunPromptOptions, 'onProgress' | 'onNode'> & {
  /** False for a node of the prompt known not to be an output node (output-nodes.ts mayBeOutputNode). */
  mayBeOutputNode: (nodeId: string) => boolean;
};

const END_FRAMES: ReadonlySet<WsFrame['type']> = new Set([
  'execution_success',
  'execution_error',
  'execution_interrupted',
]);

function isEndFrame(frame: WsFrame): boolean {
  return END_FRAMES.has(frame.type) || (frame.type === 'executing' && frame.data.node == null);
}

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

export class PromptFrames {
  private promptId: string;
  /** Whether every frame of the prompt so far is known to have arrived; once cleared, it stays cleared. */
  private complete: boolean;
  private readonly generation: number;
  private readonly malformed: number;
  private started = false;
  /** Each node's `executed` output by node id (a later frame of a node replaces the value). */
  private readonly outputs: Record<string, unknown> = {};
  /** The nodes `execution_cached` named, and those that sent `executed` (with or without an output). */
  private readonly cachedNodes = new Set<string>();
  private readonly executedNodes = new Set<string>();
  private decided: PromptOutcome | null = null;
  private ended = false;
  private readonly unsubscribe: Array<() => void>;
  /** Called on an end frame and on every socket open/close (the follower sets it to wake its loop). */
  wake: () => void = () => undefined;

  constructor(
    private readonly socket: ComfySocket,
    promptId: string,
    private readonly options: FrameOptions,
  ) {
    this.promptId = promptId;
    this.complete = socket.isOpen;
    this.generation = socket.generation;
    this.malformed = socket.malformedFrames;
    this.unsubscribe = [
      socket.onFrame((frame) => this.handle(frame)),
      socket.onState(() => {
        // A drop may lose frames, a reconnect may follow lost ones: from here on /history decides.
        this.complete = false;
        this.wake();
      }),
    ];
  }

  /** The server queued the prompt under an id of its own: its earlier frames may be lost, history decides. */
  retarget(promptId: string): void {
    if (promptId === this.promptId) return;
    this.promptId = promptId;
    this.complete = false;
  }

  /** True while no frame of the prompt can have been missed (and the outcome is not yet known). */
  get listening(): boolean {
    return this.complete && this.decided === null;
  }

  /** An end frame arrived for the prompt (whether or not it decided the outcome). */
  get endSeen(): boolean {
    return this.ended;
  }

  /** The outcome the frames establish, or null while they do not (or cannot). */
  get outcome(): PromptOutcome | null {
    return this.decided;
  }

  close(): void {
    for (const off of this.unsubscribe) off();
    this.wake = () => undefined;
  }

  private handle(frame: WsFrame): void {
    const framePrompt =
      frame.data.prompt_id ?? (frame.type === 'progress' ? this.socket.runningPromptId : null);
    if (framePrompt !== this.promptId) return;
    // Recorded before the caller's callbacks run: one that throws must not leave a frame out of the outcome.
    if (this.listening) this.record(frame);
    if (isEndFrame(frame)) {
      this.ended = true;
      this.wake();
    }
    if (frame.type === 'progress' && this.options.onProgress !== undefined) {
      const { value, max, node } = frame.data;
      this.options.onProgress({ value, max, node: node ?? null });
    }
    if (this.options.onNode !== undefined) relayNodeEvent(frame, this.options.onNode);
  }

  private record(frame: WsFrame): void {
    if (
      !this.socket.isOpen ||
      this.socket.generation !== this.generation ||
      this.socket.malformedFrames !== this.malformed
    ) {
      this.complete = false;
      return;
    }
    if (frame.type === 'execution_start') this.started = true;
    else if (frame.type === 'execution_cached') {
      for (const node of frame.data.nodes ?? []) this.cachedNodes.add(node);
    } else if (frame.type === 'executed') {
      this.executedNodes.add(frame.data.node);
      // A cached node without UI output gets `executed` with a null output and no history entry.
      if (frame.data.output != null) this.outputs[frame.data.node] = frame.data.output;
    } else if (frame.type === 'execution_success' || frame.type === 'execution_error') {
      const decidable = this.started && (frame.type === 'execution_error' || !this.cachedOutputUnannounced());
      this.decided = decidable ? this.outcomeOf(frame) : null;
      if (this.decided === null) this.complete = false;
    }
  }

  /**
   * A cached node that may be an output node sent no `executed`: a server older than August 2024 (see the
   * header), whose history lists outputs the frames never named.
   */
  private cachedOutputUnannounced(): boolean {
    for (const node of this.cachedNodes)
      if (!this.executedNodes.has(node) && this.options.mayBeOutputNode(node)) return true;
    return false;
  }

  /** The outcome history would give: the same entry shape, parsed and read by the same code. */
  private outcomeOf(
    frame: WsFrame & { type: 'execution_success' | 'execution_error' },
  ): PromptOutcome | null {
    const success = frame.type === 'execution_success';
    const entry = historyEntrySchema.safeParse({
      outputs: success ? this.outputs : {},
      status: {
        status_str: success ? 'success' : 'error',
        completed: success,
        messages: [[frame.type, frame.data]],
      },
    });
    return entry.success ? outcomeFromHistory(entry.data) : null;
  }
}
