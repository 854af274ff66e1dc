/**
 * The node types the workers of this replica can run, and which of their inputs name files, learned from each
 * worker's `/object_info`. Submission refuses a node type no worker knows (422 with the node id) — but only
 * once at least one worker has reported, so a control plane whose workers are still starting does not refuse
 * everything. File inputs are refused with or without a report (the known-loader table and input names apply).
 */
import { mergeCatalogs, type FileInputCatalog } from '../comfy/file-inputs.js';

export class NodeTypeRegistry {
  private readonly byWorker = new Map<string, ReadonlySet<string>>();
  private readonly filesByWorker = new Map<string, FileInputCatalog>();
  /** The merged catalog, rebuilt only after a worker reports or leaves (merging on every submission is waste). */
  private merged: FileInputCatalog | null = null;

  set(workerId: string, types: ReadonlySet<string>, fileInputs?: FileInputCatalog): void {
    this.byWorker.set(workerId, types);
    if (fileInputs === undefined) this.filesByWorker.delete(workerId);
    else this.filesByWorker.set(workerId, fileInputs);
    this.merged = null;
  }

  remove(workerId: string): void {
    this.byWorker.delete(workerId);
    this.filesByWorker.delete(workerId);
    this.merged = null;
  }

  /** The union of every reporting worker's types, or null when no worker has reported. */
  known(): ReadonlySet<string> | null {
    if (this.byWorker.size === 0) return null;
    const all = new Set<string>();
    for (const types of this.byWorker.values()) for (const t of types) all.add(t);
    return all;
  }

  /** The union of every reporting worker's file inputs and model lists, or null when none has reported. */
  fileInputs(): FileInputCatalog | null {
    if (this.filesByWorker.size === 0) return null;
    this.merged ??= mergeCatalogs(this.filesByWorker.values());
    return this.merged;
  }
}
