/**
 * Where a prompt is on its server, read over HTTP (the source of truth), and how to stop it there.
 */
import type { QueuedPrompt } from './contract.js';
import type { ComfyHttp } from './http.js';
import { historyAnswerSchema, queueAnswerSchema, type HistoryEntry, type QueueAnswer } from './schemas.js';

export type PromptState =
  | { kind: 'finished'; entry: HistoryEntry }
  | { kind: 'running' }
  | { kind: 'pending' }
  /** In neither queue nor history: ComfyUI restarted, the entry was evicted, or it was deleted while pending. */
  | { kind: 'absent' };

/** The client id a history entry's prompt was submitted with (`prompt[3].client_id`), when it records one. */
function submittedBy(entry: HistoryEntry): string | null {
  const extra = entry.prompt?.[3];
  if (typeof extra !== 'object' || extra === null || !('client_id' in extra)) return null;
  return typeof extra.client_id === 'string' ? extra.client_id : null;
}

/**
 * The history entry once the prompt has ended, else undefined. With `clientId`, an entry another client
 * submitted under the same prompt id is not this prompt's end: a control plane before migration 012 gave a
 * voluntarily released job's attempt number back, so its next run reused the prompt id on a ComfyUI that kept
 * the interrupted first run's entry (attempt numbers are unique now; an agent may still meet such a server).
 */
export async function readHistory(
  http: ComfyHttp,
  promptId: string,
  clientId?: string,
): Promise<HistoryEntry | undefined> {
  const answer = await http.getJson(`history/${encodeURIComponent(promptId)}`, historyAnswerSchema);
  const entry = answer[promptId];
  if (entry !== undefined && clientId !== undefined) {
    const by = submittedBy(entry);
    if (by !== null && by !== clientId) return undefined;
  }
  // An entry without `status` comes from servers that only wrote history at the end.
  if (
    entry === undefined ||
    (entry.status !== undefined && entry.status.status_str == null && !entry.status.completed)
  ) {
    return undefined;
  }
  return entry;
}

function queueIds(items: QueueAnswer['queue_running']): string[] {
  return items.flatMap((item) => (typeof item[1] === 'string' ? [item[1]] : []));
}

/** Every prompt of the queue by id: the running ones, then the pending ones, in queue order. */
export async function readQueue(http: ComfyHttp): Promise<QueuedPrompt[]> {
  const queue = await http.getJson('queue', queueAnswerSchema);
  return [
    ...queueIds(queue.queue_running).map((promptId) => ({ promptId, state: 'running' as const })),
    ...queueIds(queue.queue_pending).map((promptId) => ({ promptId, state: 'pending' as const })),
  ];
}

/** Whether the prompt is running, pending, or in neither queue. */
export async function readQueueState(
  http: ComfyHttp,
  promptId: string,
): Promise<'running' | 'pending' | 'absent'> {
  return (await readQueue(http)).find((p) => p.promptId === promptId)?.state ?? 'absent';
}

/**
 * History, then queue, then history again: a prompt that ends between the first two reads leaves the queue
 * before the second history read, so "absent" is only reported when it really is gone.
 */
export async function readPromptState(
  http: ComfyHttp,
  promptId: string,
  clientId?: string,
): Promise<PromptState> {
  const entry = await readHistory(http, promptId, clientId);
  if (entry !== undefined) return { kind: 'finished', entry };
  const queued = await readQueueState(http, promptId);
  if (queued !== 'absent') return { kind: queued };
  const late = await readHistory(http, promptId, clientId);
  return late !== undefined ? { kind: 'finished', entry: late } : { kind: 'absent' };
}

/**
 * Stops the prompt in the state just observed: a targeted interrupt if it runs (old servers ignore the body and
 * interrupt whatever runs, hence the queue check first), a queue delete if it waits.
 */
export async function stopPrompt(
  http: ComfyHttp,
  promptId: string,
  state: 'running' | 'pending',
): Promise<void> {
  if (state === 'running') await http.postCommand('interrupt', { prompt_id: promptId });
  else await http.postCommand('queue', { delete: [promptId] });
}
