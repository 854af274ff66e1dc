/**
 * What a running node sees of the server: ComfyUI's progress hook (interrupt check, progress_state, progress,
 * previews) and an interruptible sleep.
 */
import type { NodeContext } from './nodes/types.js';
import type { DataDirs } from './paths.js';
import type { ProgressState } from './progress-state.js';
import type { WsHub } from './ws-hub.js';

/** Thrown at the next interrupt check (ComfyUI's InterruptProcessingException). */
export class Interrupted extends Error {}

export interface NodeContextOptions {
  nodeId: string;
  promptId: string;
  clientId: string | null;
  prompt: Record<string, unknown>;
  extraPngInfo: unknown;
  dirs: DataDirs;
  /** Aborted when the prompt is interrupted. */
  signal: AbortSignal | undefined;
  progress: ProgressState;
  hub: WsHub;
  /** The node's object (see NodeContext.object); a fresh one when omitted. */
  object?: Record<string, unknown>;
}

/** The context for one node run. */
export function createNodeContext(o: NodeContextOptions): NodeContext {
  const { nodeId, promptId, clientId, signal, hub } = o;
  return {
    nodeId,
    promptId,
    prompt: o.prompt,
    extraPngInfo: o.extraPngInfo,
    dirs: o.dirs,
    object: o.object ?? {},
    // ComfyUI's hook order: interrupt check, progress_state (+ type 4 preview), progress, legacy preview.
    progress: (value, max, previewPng) => {
      if (signal?.aborted === true) throw new Interrupted();
      o.progress.update(nodeId, value, max);
      const withMeta = previewPng !== undefined && hub.supportsPreviewMetadata(clientId);
      if (withMeta) {
        const meta = {
          node_id: nodeId,
          prompt_id: promptId,
          display_node_id: nodeId,
          parent_node_id: null,
          real_node_id: nodeId,
          image_type: 'image/png',
        };
        hub.sendPreview(previewPng, meta, clientId);
      }
      hub.send('progress', { value, max, prompt_id: promptId, node: nodeId }, clientId);
      if (previewPng !== undefined && !withMeta) hub.sendPreview(previewPng, null, clientId);
    },
    sleep: (ms) =>
      new Promise<void>((resolve, reject) => {
        if (signal?.aborted === true) return reject(new Interrupted());
        const onAbort = (): void => {
          clearTimeout(timer);
          reject(new Interrupted());
        };
        const timer = setTimeout(() => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        }, ms);
        signal?.addEventListener('abort', onAbort, { once: true });
      }),
  };
}
