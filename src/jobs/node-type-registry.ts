/**
 * The node types the workers of this replica can run, which of their inputs name files, and their full
 * definitions, learned from each worker's `/object_info`. Submission refuses a node type no worker knows (422
 * with the node id) — but only once at least one worker has reported, so a control plane whose workers are
 * still starting does not refuse everything. File inputs are refused with or without a report (the
 * known-loader table and input names apply). Converting a UI-format workflow needs each node's widget layout.
 */
import { mergeCatalogs, type FileInputCatalog } from '../comfy/file-inputs.js';
import type { NodeDefinition } from '../comfy/node-definitions.js';

/** What one worker reported beyond its node types. */
export interface WorkerNodeReport {
  fileInputs?: FileInputCatalog;
  definitions?: ReadonlyMap<string, NodeDefinition>;
}

export class NodeTypeRegistry {
  private readonly byWorker = new Map<string, ReadonlySet<string>>();
  private readonly filesByWorker = new Map<string, FileInputCatalog>();
  private readonly definitionsByWorker = new Map<string, ReadonlyMap<string, NodeDefinition>>();
  /** The merged catalog, rebuilt only after a worker reports or leaves (merging on every submission is waste). */
  private merged: FileInputCatalog | null = null;
  /** The merged definitions, likewise: every submission validates its inputs against them. */
  private mergedDefinitions: ReadonlyMap<string, NodeDefinition> | null = null;

  set(workerId: string, types: ReadonlySet<string>, report: WorkerNodeReport = {}): void {
    this.byWorker.set(workerId, types);
    if (report.fileInputs !== undefined) this.filesByWorker.set(workerId, report.fileInputs);
    if (report.definitions !== undefined) this.definitionsByWorker.set(workerId, report.definitions);
    this.merged = null;
    this.mergedDefinitions = null;
  }

  remove(workerId: string): void {
    this.byWorker.delete(workerId);
    this.filesByWorker.delete(workerId);
    this.definitionsByWorker.delete(workerId);
    this.merged = null;
    this.mergedDefinitions = null;
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

  /** Node definitions by class name (the first worker reporting a class wins), or null when none reported. */
  definitions(): ReadonlyMap<string, NodeDefinition> | null {
    if (this.definitionsByWorker.size === 0) return null;
    if (this.mergedDefinitions !== null) return this.mergedDefinitions;
    const all = new Map<string, NodeDefinition>();
    for (const defs of this.definitionsByWorker.values()) {
      for (const [name, def] of defs) if (!all.has(name)) all.set(name, def);
    }
    this.mergedDefinitions = all;
    return all;
  }
}
