/**
 * The node types the workers of this replica can run, learned from each worker's `/object_info`.
 * Submission refuses a node type no worker knows (422 with the node id) — but only once at least one
 * worker has reported, so a control plane whose workers are still starting does not refuse everything.
 * The full definitions are kept too: converting a UI-format workflow needs each node's widget layout.
 */
import type { NodeDefinition } from '../comfy/node-definitions.js';

export class NodeTypeRegistry {
  private readonly byWorker = new Map<string, ReadonlySet<string>>();
  private readonly definitionsByWorker = new Map<string, ReadonlyMap<string, NodeDefinition>>();

  set(workerId: string, types: ReadonlySet<string>, definitions?: ReadonlyMap<string, NodeDefinition>): void {
    this.byWorker.set(workerId, types);
    if (definitions !== undefined) this.definitionsByWorker.set(workerId, definitions);
  }

  remove(workerId: string): void {
    this.byWorker.delete(workerId);
    this.definitionsByWorker.delete(workerId);
  }

  /** The union of every reporting worker's types, or null when no worker has reported. */
  known(): ReadonlySet<string> | null {
    if (this.byWorker.size === 0) return null;
    const all = new Set<string>();
    for (const types of this.byWorker.values()) for (const t of types) all.add(t);
    return all;
  }

  /** Node definitions by class name (the first worker reporting a class wins), or null when none reported. */
  definitions(): ReadonlyMap<string, NodeDefinition> | null {
    if (this.definitionsByWorker.size === 0) return null;
    const all = new Map<string, NodeDefinition>();
    for (const defs of this.definitionsByWorker.values()) {
      for (const [name, def] of defs) if (!all.has(name)) all.set(name, def);
    }
    return all;
  }
}
