/**
 * The order ComfyUI runs a prompt's nodes in (comfy_execution/graph.py): a topological sort over the nodes the
 * outputs need (cached inputs are not followed), picking output nodes first, then nodes that feed them.
 */
import type { Prompt } from './validate.js';

export class ExecutionList {
  private readonly pending = new Map<string, true>();
  private readonly blockCount = new Map<string, number>();
  private readonly blocking = new Map<string, Set<string>>();

  constructor(
    private readonly prompt: Prompt,
    private readonly isCached: (id: string) => boolean,
    private readonly isOutput: (id: string) => boolean,
  ) {}

  private links(id: string): string[] {
    const inputs = this.prompt[id]?.inputs;
    if (typeof inputs !== 'object' || inputs === null) return [];
    return Object.values(inputs).flatMap((v) =>
      Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' ? [v[0]] : [],
    );
  }

  /** `add_node`: the node and every uncached node it depends on. */
  addNode(start: string): void {
    const stack = [start];
    const edges: Array<[string, string]> = [];
    while (stack.length > 0) {
      const id = stack.pop()!;
      if (this.pending.has(id)) continue;
      this.pending.set(id, true);
      this.blockCount.set(id, 0);
      this.blocking.set(id, new Set());
      for (const from of this.links(id)) {
        if (!this.isCached(from)) stack.push(from);
        edges.push([from, id]);
      }
    }
    for (const [from, to] of edges) {
      if (this.isCached(from)) continue;
      this.addNode(from);
      const blocked = this.blocking.get(from)!;
      if (!blocked.has(to)) {
        blocked.add(to);
        this.blockCount.set(to, (this.blockCount.get(to) ?? 0) + 1);
      }
    }
  }

  isEmpty(): boolean {
    return this.pending.size === 0;
  }

  /** The next node to run; null when what is left waits on itself (a dependency cycle). */
  next(): string | null {
    const ready = [...this.pending.keys()].filter((id) => this.blockCount.get(id) === 0);
    if (ready.length === 0) return null;
    const feeds = (id: string, depth: number): boolean =>
      depth === 0 ? this.isOutput(id) : [...(this.blocking.get(id) ?? [])].some((b) => feeds(b, depth - 1));
    for (const depth of [0, 1, 2]) {
      const pick = ready.find((id) => feeds(id, depth));
      if (pick !== undefined) return pick;
    }
    return ready[0]!;
  }

  /** A node to blame for a cycle: the first one still pending. */
  firstPending(): string | null {
    return this.pending.keys().next().value ?? null;
  }

  complete(id: string): void {
    this.pending.delete(id);
    for (const blocked of this.blocking.get(id) ?? [])
      this.blockCount.set(blocked, (this.blockCount.get(blocked) ?? 1) - 1);
    this.blocking.delete(id);
  }
}
