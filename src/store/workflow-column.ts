/**
 * The `workflow` column of jobs and templates → Workflow. Every full job read parses it (each transition
 * returns the whole row, the claim hands it to the worker), and a zod walk of its nodes cost more than the
 * JSON.parse itself (bench/row-parse.ts). This check is that schema written out: it accepts exactly what
 * `record(string, object({ class_type: string, inputs: record(string, unknown), _meta: unknown.optional() }))`
 * accepted and returns an equal value (each node with those keys only, in that order), so nothing the read
 * guarantees is dropped.
 */
import type { Workflow } from '../jobs/types.js';
import { describe, isRecord, MalformedRowError, parseJsonText, withoutProtoKey } from './row-checks.js';

const NODE_KEYS = ['class_type', 'inputs', '_meta'];

/** Whether the node's keys are class_type, inputs and optionally _meta, in that order (nothing to drop). */
function hasSchemaKeys(node: Record<string, unknown>): boolean {
  let i = 0;
  for (const key in node) {
    if (key !== NODE_KEYS[i]) return false;
    i++;
  }
  return i >= 2;
}

type WorkflowNode = Workflow[string];

/** What the schema checked of a node: an object with a string class_type and an object of inputs. */
function isNode(node: unknown): node is WorkflowNode {
  return isRecord(node) && typeof node.class_type === 'string' && isRecord(node.inputs);
}

/** Why `node` is not a workflow node (isNode is false). */
function nodeProblem(node: unknown): string {
  if (!isRecord(node)) return `is ${describe(node)}, not an object`;
  if (typeof node.class_type !== 'string') return `class_type is ${describe(node.class_type)}, not a string`;
  return `inputs is ${describe(node.inputs)}, not an object`;
}

/** Parses and checks a stored workflow; `table` names the row in the error. */
export function parseWorkflowColumn(table: string, text: unknown): Workflow {
  const value = parseJsonText(table, 'workflow', text);
  if (!isRecord(value)) {
    throw new MalformedRowError(table, 'workflow', `is ${describe(value)}, not an object`);
  }
  const workflow: Workflow = {};
  for (const id of Object.keys(value)) {
    // zod's record skipped this key, whatever its value; assigning it would set the result's prototype.
    if (id === '__proto__') continue;
    const node = value[id];
    if (!isNode(node)) throw new MalformedRowError(table, 'workflow', `node ${id}: ${nodeProblem(node)}`);
    // A node holding just the schema's keys, in its order, is already the value the schema returned: kept, so
    // the common read allocates little beyond JSON.parse. Any other node is rebuilt as the schema did.
    const inputs = withoutProtoKey(node.inputs);
    workflow[id] =
      hasSchemaKeys(node) && inputs === node.inputs
        ? node
        : '_meta' in node
          ? { class_type: node.class_type, inputs, _meta: node._meta }
          : { class_type: node.class_type, inputs };
  }
  return workflow;
}
