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

/** Splits a node id into runs of digits and of other characters: `10:2` → `10`, `:`, `2`. */
function idParts(id: string): string[] {
  return id.match(/\d+|\D+/g) ?? [];
}

function comparePart(a: string, b: string): number {
  const aDigits = /^\d/.test(a);
  const bDigits = /^\d/.test(b);
  if (aDigits !== bDigits) return aDigits ? -1 : 1;
  if (aDigits) {
    // By value, with no precision limit: fewer significant digits first, then digit by digit.
    const x = a.replace(/^0+(?=\d)/, '');
    const y = b.replace(/^0+(?=\d)/, '');
    if (x.length !== y.length) return x.length - y.length;
    if (x !== y) return x < y ? -1 : 1;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The order outputs are listed in, whichever path (frames or history) built them: node ids compared part by
 * part, numbers by value (`9` < `10` < `10:2` < `10:10` < `x:3`), ties by the text. History's own key order
 * cannot be it: ComfyUI from August 2024 (5cfe38f4) to October 2025 built history `outputs` from a Python set
 * (`caches.ui.all_node_ids()`, hash order, changing with each process), only 513b0c46 (31 October 2025) keyed
 * them in execution order; and JSON.parse puts integer keys first, ascending, whatever the server wrote. For
 * integer ids this is the order both paths always gave.
 */
export function compareNodeIds(a: string, b: string): number {
  const x = idParts(a);
  const y = idParts(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const c = comparePart(x[i]!, y[i]!);
    if (c !== 0) return c;
  }
  if (x.length !== y.length) return x.length - y.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Every `{filename, subfolder, type}` under any key of each node's output (images, gifs, videos, audio, 3d...),
 * nodes in compareNodeIds order and each node's files in its own order, typed by the folder /view reads it
 * from. Other values (text lists, flags) are skipped.
 */
export function collectOutputFiles(outputs: HistoryEntry['outputs']): ComfyOutputFile[] {
  const files: ComfyOutputFile[] = [];
  const nodes = Object.entries(outputs).sort(([a], [b]) => compareNodeIds(a, b));
  for (const [nodeId, output] of nodes) {
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
