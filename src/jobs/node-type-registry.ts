/**
 * The node types the workers of this replica can run, learned from each worker's `/object_info`.
 * Submission refuses a node type no worker knows (422 with the node id) — but only once at least one
 * worker has reported, so a control plane whose workers are still starting does not refuse everything.
 */
export class NodeTypeRegistry {
  private readonly byWorker = new Map<string, ReadonlySet<string>>();

  set(workerId: string, types: ReadonlySet<string>): void {
    this.byWorker.set(workerId, types);
  }

  remove(workerId: string): void {
    this.byWorker.delete(workerId);
  }

  /** The union of every reporting worker's types, or null when no worker has reported. */
  known(): ReadonlySet<string> | null {
    if (this.byWorker.size === 0) return null;
    const all = new Set<string>();
    for (const types of this.byWorker.values()) for (const t of types) all.add(t);
    return all;
  }
}
