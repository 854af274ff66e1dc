/**
 * Pure structural checks of a ComfyUI API-format workflow, run before admission so a broken workflow is
 * refused with node ids instead of failing on a GPU worker later.
 */
import type { Workflow } from './workflow.js';

/** One thing wrong with a workflow; nodeId is null for problems of the whole workflow. */
export interface WorkflowProblem {
  nodeId: string | null;
  /** The input at fault, when the problem is about one input. */
  input?: string;
  message: string;
}

/** A node whose class_type is not usable (unknown to the workers, or not allowed for the account). */
export interface NodeTypeProblem {
  nodeId: string;
  classType: string;
}

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

/**
 * Node ids that sit on a cycle: members of a strongly connected component of two or more nodes, or linked to
 * themselves (ComfyUI would recurse forever or refuse). Iterative Tarjan, O(nodes + links): a quadratic check
 * here once let one 40k-node body block the event loop for 40 s.
 */
export function nodesOnCycles(nodes: Record<string, unknown>): string[] {
  const ids = Object.keys(nodes);
  const indexOf = new Map<string, number>();
  for (const [i, id] of ids.entries()) indexOf.set(id, i);
  const edges = ids.map((id) => linkSources(nodes[id], nodes).map((source) => indexOf.get(source)!));
  const order = new Int32Array(ids.length).fill(-1);
  const low = new Int32Array(ids.length);
  const onStack = new Uint8Array(ids.length);
  const nextEdge = new Int32Array(ids.length);
  const stack: number[] = [];
  const onCycle: string[] = [];
  let counter = 0;
  for (let root = 0; root < ids.length; root++) {
    if (order[root] !== -1) continue;
    const path: number[] = [root];
    order[root] = low[root] = counter++;
    stack.push(root);
    onStack[root] = 1;
    while (path.length > 0) {
      const v = path[path.length - 1]!;
      const out = edges[v]!;
      if (nextEdge[v]! < out.length) {
        const w = out[nextEdge[v]!++]!;
        if (order[w] === -1) {
          order[w] = low[w] = counter++;
          stack.push(w);
          onStack[w] = 1;
          path.push(w);
        } else if (onStack[w] === 1) {
          low[v] = Math.min(low[v]!, order[w]!);
        }
        continue;
      }
      path.pop();
      const parent = path[path.length - 1];
      if (parent !== undefined) low[parent] = Math.min(low[parent]!, low[v]!);
      if (low[v] !== order[v]) continue;
      const component: number[] = [];
      let w: number;
      do {
        w = stack.pop()!;
        onStack[w] = 0;
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || out.includes(v)) for (const c of component) onCycle.push(ids[c]!);
    }
  }
  return onCycle;
}

/** How big a workflow may be; checked before any other work on it. */
export interface WorkflowLimits {
  maxNodes: number;
  maxLinks: number;
}

export const DEFAULT_WORKFLOW_LIMITS: WorkflowLimits = Object.freeze({ maxNodes: 5_000, maxLinks: 20_000 });

/**
 * Null when the workflow is within the limits, else why not. Counts without building anything and stops at the
 * first bound crossed, so an oversized body costs one pass over its keys at most. A UI-format export (`nodes` is
 * an array) is bounded by its `nodes` and `links` arrays, before any conversion work on it.
 */
export function workflowSizeProblem(workflow: unknown, limits: WorkflowLimits): string | null {
  if (!isPlainObject(workflow)) return null;
  if (Array.isArray(workflow.nodes)) {
    if (workflow.nodes.length > limits.maxNodes) return `the workflow has more than ${limits.maxNodes} nodes`;
    const links = Array.isArray(workflow.links) ? workflow.links.length : 0;
    return links > limits.maxLinks ? `the workflow has more than ${limits.maxLinks} links` : null;
  }
  let nodes = 0;
  let links = 0;
  for (const key in workflow) {
    if (!Object.hasOwn(workflow, key)) continue;
    if (++nodes > limits.maxNodes) return `the workflow has more than ${limits.maxNodes} nodes`;
    const node = workflow[key];
    if (!isPlainObject(node) || !isPlainObject(node.inputs)) continue;
    for (const name in node.inputs) {
      if (Array.isArray(node.inputs[name]) && ++links > limits.maxLinks) {
        return `the workflow has more than ${limits.maxLinks} links`;
      }
    }
  }
  return null;
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

/**
 * The typed workflow, or its structural problems. One pass of `checkWorkflow`, then each node's checked fields
 * are read into the type (a second validation of the same shape cost more than the check itself per submission).
 */
export function readWorkflow(workflow: unknown): { workflow: Workflow } | { problems: WorkflowProblem[] } {
  const problems = checkWorkflow(workflow);
  if (problems.length > 0) return { problems };
  const typed: Workflow = {};
  if (!isPlainObject(workflow)) return { problems: [{ nodeId: null, message: 'malformed' }] };
  for (const [id, node] of Object.entries(workflow)) {
    // Always true once checkWorkflow found nothing; written out so the type follows from the checks.
    if (!isPlainObject(node) || typeof node.class_type !== 'string' || !isPlainObject(node.inputs)) {
      return { problems: [{ nodeId: id, message: 'node must be an object { class_type, inputs }' }] };
    }
    typed[id] = { ...node, class_type: node.class_type, inputs: node.inputs };
  }
  return { workflow: typed };
}

/** The typed workflow when `checkWorkflow` finds nothing wrong, otherwise null. */
export function parseWorkflow(workflow: unknown): Workflow | null {
  const read = readWorkflow(workflow);
  return 'workflow' in read ? read.workflow : null;
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
