/**
 * Which nodes of a submitted workflow may be output nodes, from the `output_node` flag `/object_info` gives each
 * class. A prompt's frames decide its outputs only when every cached node that may be an output node sent its
 * `executed` frame (prompt-frames.ts): a class /object_info does not flag, and a server whose /object_info is not
 * loaded, count as "may be".
 */
import { z } from 'zod';
import type { Workflow } from './workflow.js';

const flaggedEntry = z.looseObject({ output_node: z.boolean() });

/** Each class's `output_node` flag, for the classes whose `/object_info` entry carries one. */
export type OutputNodeFlags = ReadonlyMap<string, boolean>;

export function outputNodeFlags(objectInfo: Record<string, unknown>): OutputNodeFlags {
  const flags = new Map<string, boolean>();
  for (const [name, raw] of Object.entries(objectInfo)) {
    const entry = flaggedEntry.safeParse(raw);
    if (entry.success) flags.set(name, entry.data.output_node);
  }
  return flags;
}

/**
 * A test of the workflow's node ids: false only for a node of the workflow whose class is known not to be an
 * output node (a node id the workflow does not hold, or a class without a flag, may be one).
 */
export function mayBeOutputNode(
  workflow: Workflow,
  flags: OutputNodeFlags | null,
): (nodeId: string) => boolean {
  return (nodeId) => {
    const node = Object.hasOwn(workflow, nodeId) ? workflow[nodeId] : undefined;
    if (node === undefined || flags === null) return true;
    return flags.get(node.class_type) !== false;
  };
}
