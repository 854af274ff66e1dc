/**
 * ComfyUI's default ("classic") node cache: outputs and UI results keyed by a node's input signature (class,
 * IS_CHANGED value, literal inputs, and the signatures of linked nodes), shared by every prompt and client.
 * When a prompt starts, entries it does not use are dropped, so the cache holds at most the last prompt's nodes.
 */
import type { NodeRegistry } from './nodes/registry.js';
import type { DataDirs } from './paths.js';
import type { Prompt } from './validate.js';

export interface UiEntry {
  meta: { node_id: string; display_node: string; parent_node: null; real_node_id: string };
  output: Record<string, unknown[]>;
}

export class NodeCache {
  private readonly outputs = new Map<string, unknown[]>();
  private readonly ui = new Map<string, UiEntry>();

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

  /** `clean_unused`: keeps only the entries the new prompt can use. */
  keepOnly(signatures: Iterable<string>): void {
    const keep = new Set(signatures);
    for (const map of [this.outputs, this.ui]) {
      for (const key of map.keys()) if (!keep.has(key)) map.delete(key);
    }
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
