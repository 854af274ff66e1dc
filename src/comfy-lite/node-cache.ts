/**
 * ComfyUI's node output cache: outputs and UI results keyed by a node's input signature (class, IS_CHANGED value,
 * literal inputs, and the signatures of linked nodes), shared by every prompt and client. Two policies, as
 * ComfyUI's CacheSet has them:
 * - classic (the default): when a prompt starts, entries it does not use are dropped, so the cache holds at most
 *   the last prompt's nodes (and so the last prompt's models);
 * - LRU (`--cache-lru N`, ComfyUI's LRUCache): each prompt is a generation that marks the entries it uses; when a
 *   prompt starts and more than N entries are held, the oldest generations are dropped until N or fewer remain
 *   (never the ones the starting prompt uses). N counts node results, not models: a prompt adds one per node.
 */
import type { NodeRegistry } from './nodes/registry.js';
import type { DataDirs } from './paths.js';
import type { Prompt } from './validate.js';

export interface UiEntry {
  meta: { node_id: string; display_node: string; parent_node: null; real_node_id: string };
  output: Record<string, unknown[]>;
}

/** `null`: classic; a number: LRU with that many entries (ComfyUI's `--cache-lru N`, N > 0). */
export type CacheSize = number | null;

/** One of ComfyUI's caches (BasicCache with classic cleaning, or LRUCache). */
class Store<V> {
  private readonly entries = new Map<string, V>();
  private readonly used = new Map<string, number>();
  private generation = 0;
  private minGeneration = 0;

  constructor(private readonly maxSize: CacheSize) {}

  /** `set_prompt` + `clean_unused`. */
  startPrompt(keys: ReadonlySet<string>): void {
    if (this.maxSize === null) {
      for (const key of [...this.entries.keys()]) if (!keys.has(key)) this.entries.delete(key);
      return;
    }
    this.generation++;
    for (const key of keys) this.used.set(key, this.generation);
    while (this.entries.size > this.maxSize && this.minGeneration < this.generation) {
      this.minGeneration++;
      for (const key of [...this.entries.keys()]) {
        if ((this.used.get(key) ?? 0) >= this.minGeneration) continue;
        this.entries.delete(key);
        this.used.delete(key);
      }
    }
  }

  get(key: string): V | undefined {
    if (this.maxSize !== null && this.entries.has(key)) this.used.set(key, this.generation);
    return this.entries.get(key);
  }

  set(key: string, value: V): void {
    if (this.maxSize !== null) this.used.set(key, this.generation);
    this.entries.set(key, value);
  }

  get size(): number {
    return this.entries.size;
  }
}

export class NodeCache {
  private outputs: Store<unknown[]>;
  private ui: Store<UiEntry>;

  constructor(private readonly size: CacheSize = null) {
    this.outputs = new Store(size);
    this.ui = new Store(size);
  }

  /** Signature of every node of the prompt (keyed by node id). */
  async signatures(prompt: Prompt, registry: NodeRegistry, dirs: DataDirs): Promise<Map<string, string>> {
    const changed = new Map<string, string>();
    for (const [id, node] of Object.entries(prompt)) {
      const def = registry.get(String(node.class_type));
      const inputs = node.inputs;
      if (def?.isChanged === undefined || typeof inputs !== 'object' || inputs === null) continue;
      changed.set(id, await def.isChanged({ ...inputs }, dirs).catch(() => `failed-${Math.random()}`));
    }
    const memo = new Map<string, string>();
    const sig = (id: string, depth: number): string => {
      const known = memo.get(id);
      if (known !== undefined) return known;
      const node = prompt[id];
      if (node === undefined || depth > 1000) return `missing-${Math.random()}`;
      const inputs =
        typeof node.inputs === 'object' && node.inputs !== null ? Object.entries(node.inputs) : [];
      const parts = inputs
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([name, v]) => [
          name,
          Array.isArray(v) && v.length === 2 ? ['link', sig(String(v[0]), depth + 1), v[1]] : v,
        ]);
      const s = JSON.stringify([node.class_type, changed.get(id) ?? null, parts]);
      memo.set(id, s);
      return s;
    };
    return new Map(Object.keys(prompt).map((id) => [id, sig(id, 0)]));
  }

  /** A prompt starts: its entries are marked used and the others dropped as the policy says. */
  startPrompt(signatures: Iterable<string>): void {
    const keys = new Set(signatures);
    this.outputs.startPrompt(keys);
    this.ui.startPrompt(keys);
  }

  /** ComfyUI's `reset()` after `POST /free {"free_memory": true}`: every entry (and so every model) dropped. */
  clear(): void {
    this.outputs = new Store(this.size);
    this.ui = new Store(this.size);
  }

  /** How many node results are held. */
  get entries(): number {
    return this.outputs.size;
  }

  outputsOf(signature: string): unknown[] | undefined {
    return this.outputs.get(signature);
  }

  uiOf(signature: string): UiEntry | undefined {
    return this.ui.get(signature);
  }

  store(signature: string, outputs: unknown[], ui: UiEntry | null): void {
    this.outputs.set(signature, outputs);
    if (ui !== null) this.ui.set(signature, ui);
  }
}
