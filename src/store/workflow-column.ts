/**
 * The `workflow` column of jobs and templates → Workflow. Every full job read parses it (each transition
 * returns the whole row, the claim hands it to the worker), and a zod walk of its nodes cost more than the
 * JSON.parse itself (bench/row-parse.ts). This check is that schema written out: it accepts exactly what
 * `record(string, object({ class_type: string, inputs: record(string, unknown), _meta: unknown.optional() }))`
 * accepted and returns the same value (each node rebuilt with those keys only, in that order), so nothing the
 * read guarantees is dropped.
 */
import type { Workflow } from '../jobs/types.js';
import { describe, isRecord, MalformedRowError, parseJsonText } from './row-checks.js';

/** Why `node` is not a workflow node, or null when it is one. */
function nodeProblem(node: unknown): string | null {
  if (!isRecord(node)) return `is ${describe(node)}, not an object`;
  if (typeof node.class_type !== 'string') return `class_type is ${describe(node.class_type)}, not a string`;
  if (!isRecord(node.inputs)) return `inputs is ${describe(node.inputs)}, not an object`;
  return null;
}

/** Parses and checks a stored workflow; `table` names the row in the error. */
export function parseWorkflowColumn(table: string, text: unknown): Workflow {
  const value = parseJsonText(table, 'workflow', text);
  if (!isRecord(value))
    throw new MalformedRowError(table, 'workflow', `is ${describe(value)}, not an object`);
  const out: Workflow = {};
  for (const id of Object.keys(value)) {
    const node = value[id];
    // The same three tests as nodeProblem, inline: this loop runs for every node of every full job read.
    if (!isRecord(node) || typeof node.class_type !== 'string' || !isRecord(node.inputs)) {
      throw new MalformedRowError(table, 'workflow', `node ${id}: ${nodeProblem(node) ?? 'is malformed'}`);
    }
    out[id] =
      '_meta' in node
        ? { class_type: node.class_type, inputs: node.inputs, _meta: node._meta }
        : { class_type: node.class_type, inputs: node.inputs };
  }
  return out;
}
