/**
 * ComfyUI's PromptQueue: pending prompts in a heap, the running one, and the in-memory history (capped at
 * 10000 entries, oldest dropped first). Every queue change is reported through `onChange` (the `status` event).
 */
import { heapify, heapPop, heapPush } from './py-heap.js';
import type { Prompt } from './validate.js';

/** The tuple ComfyUI shows in `/queue` and history: [number, prompt_id, prompt, extra_data, outputs_to_execute]. */
export type QueueItem = [
  number: number,
  promptId: string,
  prompt: Prompt,
  extraData: Record<string, unknown>,
  outputs: string[],
];

export interface HistoryEntry {
  prompt: QueueItem;
  outputs: Record<string, unknown>;
  status: { status_str: 'success' | 'error'; completed: boolean; messages: Array<[string, unknown]> };
  meta: Record<string, unknown>;
}

const MAXIMUM_HISTORY_SIZE = 10000;

interface Pending {
  item: QueueItem;
  seq: number;
}

/** Python compares the tuples: number, then prompt_id; insertion order breaks the remaining ties. */
const less = (a: Pending, b: Pending): boolean =>
  a.item[0] !== b.item[0]
    ? a.item[0] < b.item[0]
    : a.item[1] !== b.item[1]
      ? a.item[1] < b.item[1]
      : a.seq < b.seq;

export class PromptQueue {
  private readonly heap: Pending[] = [];
  private running: QueueItem | null = null;
  private readonly history = new Map<string, HistoryEntry>();
  private seq = 0;
  private closed = false;
  private waiter: (() => void) | null = null;

  constructor(private readonly onChange: () => void) {}

  /** `queue_remaining`: pending plus running. */
  remaining(): number {
    return this.heap.length + (this.running === null ? 0 : 1);
  }

  put(item: QueueItem): void {
    heapPush(this.heap, { item, seq: this.seq++ }, less);
    this.onChange();
    this.waiter?.();
  }

  /** Waits for the next prompt and marks it running; null once the queue is closed. */
  async take(): Promise<QueueItem | null> {
    while (this.heap.length === 0 && !this.closed)
      await new Promise<void>((resolve) => (this.waiter = resolve));
    this.waiter = null;
    if (this.closed) return null;
    this.running = heapPop(this.heap, less)!.item;
    this.onChange();
    return this.running;
  }

  /** Ends `take` for good (shutdown). */
  close(): void {
    this.closed = true;
    this.waiter?.();
  }

  done(entry: Omit<HistoryEntry, 'prompt'>): void {
    const item = this.running;
    if (item === null) return;
    this.running = null;
    this.history.set(item[1], { prompt: item, ...entry });
    if (this.history.size > MAXIMUM_HISTORY_SIZE) this.history.delete(this.history.keys().next().value!);
    this.onChange();
  }

  runningItem(): QueueItem | null {
    return this.running;
  }

  current(): { running: QueueItem[]; pending: QueueItem[] } {
    return { running: this.running === null ? [] : [this.running], pending: this.heap.map((p) => p.item) };
  }

  /** `delete_queue_item`: removes the first pending prompt with this id (ComfyUI reports a last one twice). */
  deletePending(promptId: string): boolean {
    const at = this.heap.findIndex((p) => p.item[1] === promptId);
    if (at < 0) return false;
    if (this.heap.length === 1) this.wipe();
    else {
      this.heap.splice(at, 1);
      heapify(this.heap, less);
    }
    this.onChange();
    return true;
  }

  wipe(): void {
    this.heap.length = 0;
    this.onChange();
  }

  historyEntry(promptId: string): HistoryEntry | undefined {
    return this.history.get(promptId);
  }

  /** `get_history(max_items, offset)`: by default the last `maxItems` entries, oldest first. */
  historyPage(maxItems: number | null, offset: number | null): Record<string, HistoryEntry> {
    const entries = [...this.history.entries()];
    const start =
      offset === null || offset < 0
        ? maxItems === null
          ? 0
          : Math.max(0, entries.length - maxItems)
        : offset;
    const page = entries.slice(start, maxItems === null ? undefined : start + maxItems);
    return Object.fromEntries(page);
  }

  deleteHistory(promptId: string): void {
    this.history.delete(promptId);
  }

  clearHistory(): void {
    this.history.clear();
  }
}
