/** Turns a `/history/{id}` entry into a PromptOutcome: the one source of truth for how a prompt ended. */
import type { ComfyOutputFile, PromptOutcome } from './contract.js';
import { executionErrorDataSchema, fileRefSchema, type HistoryEntry } from './schemas.js';

/**
 * The folder `GET /view` really reads: a filename ending in `[input]`, `[output]` or `[temp]` picks that folder
 * whatever `type` says (server.py view_image → folder_paths.annotated_filepath). `x.png [input]` with type
 * `output` would read ComfyUI's input folder, where every job's uploads live.
 */
function viewedFolder(filename: string, type: ComfyOutputFile['type']): ComfyOutputFile['type'] {
  for (const folder of ['output', 'input', 'temp'] as const)
    if (filename.endsWith(`[${folder}]`)) return folder;
  return type;
}

/**
 * Every `{filename, subfolder, type}` under any key of each node's output (images, gifs, videos, audio, 3d...),
 * in history order, typed by the folder /view reads it from. Other values (text lists, flags) are skipped.
 */
export function collectOutputFiles(outputs: HistoryEntry['outputs']): ComfyOutputFile[] {
  const files: ComfyOutputFile[] = [];
  for (const [nodeId, output] of Object.entries(outputs)) {
    for (const value of Object.values(output)) {
      const candidates = Array.isArray(value) ? value : [value];
      for (const candidate of candidates) {
        const ref = fileRefSchema.safeParse(candidate);
        if (ref.success)
          files.push({ nodeId, ...ref.data, type: viewedFolder(ref.data.filename, ref.data.type) });
      }
    }
  }
  return files;
}

/** The files one node's output names (an `executed` frame's `output`, shaped like a history entry's). */
export function nodeOutputFiles(nodeId: string, output: unknown): ComfyOutputFile[] {
  if (typeof output !== 'object' || output === null || Array.isArray(output)) return [];
  return collectOutputFiles({ [nodeId]: output as Record<string, unknown> });
}

/** The outcome a finished history entry records. */
export function outcomeFromHistory(entry: HistoryEntry): PromptOutcome {
  const status = entry.status;
  const messages = status?.messages ?? [];
  if (messages.some(([event]) => event === 'execution_interrupted')) return { kind: 'interrupted' };
  const errorMessage = messages.find(([event]) => event === 'execution_error');
  if (errorMessage !== undefined || status?.status_str === 'error') {
    const data = executionErrorDataSchema.safeParse(errorMessage?.[1]);
    const detail = data.success ? data.data : {};
    return {
      kind: 'error',
      nodeId: detail.node_id ?? null,
      nodeType: detail.node_type ?? null,
      message: detail.exception_message?.trim() || 'ComfyUI reported an execution error',
    };
  }
  // Servers older than the `status` field only wrote history for finished prompts: outputs mean success.
  return { kind: 'success', outputs: collectOutputFiles(entry.outputs) };
}
