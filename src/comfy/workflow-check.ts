/**
 * Pure structural checks of a ComfyUI API-format workflow, run before admission so a broken workflow is
 * refused with node ids instead of failing on a GPU worker later.
 */
import { z } from 'zod';
import type { Workflow } from '../jobs/types.js';

/** One thing wrong with a workflow; nodeId is null for problems of the whole workflow. */
export interface WorkflowProblem {
  nodeId: string | null;
  message: string;
}

/** A node whose class_type is not usable (unknown to the workers, or not allowed for the account). */
export interface NodeTypeProblem {
  nodeId: string;
  classType: string;
}

const workflowSchema = z.record(
  z.string(),
  z.looseObject({
    class_type: z.string(),
    inputs: z.record(z.string(), z.unknown()),
    _meta: z.unknown().optional(),
  }),
);

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** ComfyUI treats every list-valued input as a link `[nodeId, outputIndex]`. */
function linkProblem(value: unknown[], nodes: Record<string, unknown>): string | null {
  const [source, index] = value;
  if (value.length !== 2 || typeof source !== 'string') {
    return 'must be a link [node id (string), output index]';
  }
  if (!Object.hasOwn(nodes, source)) return `links to node "${source}", which does not exist`;
  if (typeof index !== 'number' || !Number.isInteger(index) || index < 0) {
    return 'link output index must be a non-negative integer';
  }
  return null;
}

function nodeProblems(nodeId: string, node: unknown, nodes: Record<string, unknown>): WorkflowProblem[] {
  if (nodeId === '') return [{ nodeId, message: 'node id must not be empty' }];
  if (!isPlainObject(node)) return [{ nodeId, message: 'node must be an object { class_type, inputs }' }];
  const problems: WorkflowProblem[] = [];
  if (typeof node.class_type !== 'string' || node.class_type.trim() === '') {
    problems.push({ nodeId, message: 'class_type must be a non-empty string' });
  }
  if (!isPlainObject(node.inputs)) {
    problems.push({ nodeId, message: 'inputs must be an object' });
    return problems;
  }
  for (const [name, value] of Object.entries(node.inputs)) {
    if (!Array.isArray(value)) continue;
    const problem = linkProblem(value, nodes);
    if (problem !== null) problems.push({ nodeId, message: `input "${name}" ${problem}` });
  }
  return problems;
}

/** Source node ids of every well-formed link of a node. */
function linkSources(node: unknown, nodes: Record<string, unknown>): string[] {
  if (!isPlainObject(node) || !isPlainObject(node.inputs)) return [];
  return Object.values(node.inputs).flatMap((value) =>
    Array.isArray(value) && typeof value[0] === 'string' && Object.hasOwn(nodes, value[0]) ? [value[0]] : [],
  );
}

/** Node ids that sit on a cycle (iterative DFS; ComfyUI would recurse forever or refuse). */
function nodesOnCycles(nodes: Record<string, unknown>): string[] {
  const state = new Map<string, 'open' | 'done'>();
  const onCycle = new Set<string>();
  for (const start of Object.keys(nodes)) {
    if (state.has(start)) continue;
    const stack: { id: string; next: string[] }[] = [{ id: start, next: linkSources(nodes[start], nodes) }];
    state.set(start, 'open');
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const child = top.next.pop();
      if (child === undefined) {
        state.set(top.id, 'done');
        stack.pop();
      } else if (state.get(child) === 'open') {
        const from = stack.findIndex((frame) => frame.id === child);
        for (const frame of stack.slice(from)) onCycle.add(frame.id);
      } else if (!state.has(child)) {
        state.set(child, 'open');
        stack.push({ id: child, next: linkSources(nodes[child], nodes) });
      }
    }
  }
  return [...onCycle];
}

/** Structural problems of a workflow given as untrusted JSON; an empty list means it is well formed. */
export function checkWorkflow(workflow: unknown): WorkflowProblem[] {
  if (!isPlainObject(workflow)) {
    return [{ nodeId: null, message: 'workflow must be an object of node id → { class_type, inputs }' }];
  }
  const ids = Object.keys(workflow);
  if (ids.length === 0) return [{ nodeId: null, message: 'workflow has no nodes' }];
  const problems = ids.flatMap((id) => nodeProblems(id, workflow[id], workflow));
  for (const nodeId of nodesOnCycles(workflow)) {
    problems.push({ nodeId, message: 'node is part of a cycle of links' });
  }
  return problems;
}

/** The typed workflow when `checkWorkflow` finds nothing wrong, otherwise null. */
export function parseWorkflow(workflow: unknown): Workflow | null {
  if (checkWorkflow(workflow).length > 0) return null;
  const parsed = workflowSchema.safeParse(workflow);
  return parsed.success ? parsed.data : null;
}

/** Nodes whose class_type the workers do not know (from `/object_info`). */
export function checkNodeTypes(workflow: Workflow, known: ReadonlySet<string>): NodeTypeProblem[] {
  return Object.entries(workflow)
    .filter(([, node]) => !known.has(node.class_type))
    .map(([nodeId, node]) => ({ nodeId, classType: node.class_type }));
}

/** Nodes whose class_type the account may not use; a null allowlist allows everything. */
export function checkAllowlist(workflow: Workflow, allowed: readonly string[] | null): NodeTypeProblem[] {
  if (allowed === null) return [];
  return checkNodeTypes(workflow, new Set(allowed));
}
