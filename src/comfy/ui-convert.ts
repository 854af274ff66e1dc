/**
 * Converts a UI-format workflow (what ComfyUI's "Save" writes) into the API format `POST /prompt` takes, the way
 * the front end does before it queues a prompt: widget values become inputs by the workers' node definitions,
 * links become `[node id, output index]`, muted (mode 2) nodes are dropped with the links out of them, bypassed
 * (mode 4) nodes are dropped and pass a matching input through, Reroute and PrimitiveNode (front-end only
 * nodes) are resolved to what they carry, and notes and groups are ignored.
 */
import { z } from 'zod';
import type { Workflow } from './workflow.js';
import type { NodeDefinition } from './node-definitions.js';
import {
  MODE_BYPASS,
  MODE_MUTED,
  normaliseLink,
  typeText,
  uiWorkflowSchema,
  type UiLink,
  type UiNode,
  type UiWorkflow,
} from './ui-format.js';
import { assignWidgetValues } from './ui-widgets.js';
import type { WorkflowProblem } from './workflow-check.js';

/** Nodes that exist only in the front end and never reach a server. */
const FRONT_END_ONLY = new Set(['Reroute', 'PrimitiveNode', 'Note', 'MarkdownNote']);
const HOW_TO =
  'export the workflow with "Save (API Format)" instead (older ComfyUI versions show it after enabling dev mode options)';

const subgraphsSchema = z
  .looseObject({ subgraphs: z.array(z.looseObject({ id: z.string() })).optional() })
  .optional();

export type ConversionResult = { workflow: Workflow } | { problems: WorkflowProblem[] };

/** Where a linked input's value comes from once front-end-only and dropped nodes are looked through. */
type Source =
  { kind: 'link'; nodeId: string; slot: number } | { kind: 'value'; value: unknown } | { kind: 'none' };

interface Graph {
  nodes: Map<string, UiNode>;
  links: Map<number, UiLink>;
  /** Each link's source once resolved: every link is followed once, whatever the number of its readers. */
  resolved: Map<number, Source>;
  /** Each bypassed node's stand-in inputs, computed once per node. */
  bypass: Map<UiNode, BypassInputs>;
}

/** The linked inputs of a bypassed node that can stand in for an output: the first one, the first `*`, by type. */
interface BypassInputs {
  first: number | null;
  firstAny: number | null;
  byType: Map<string, number>;
}

function bypassInputs(graph: Graph, node: UiNode): BypassInputs {
  const known = graph.bypass.get(node);
  if (known !== undefined) return known;
  const found: BypassInputs = { first: null, firstAny: null, byType: new Map() };
  for (const [i, input] of (node.inputs ?? []).entries()) {
    if (input.link === null || input.link === undefined) continue;
    const type = typeText(input.type);
    found.first ??= i;
    if (type === '*') found.firstAny ??= i;
    if (!found.byType.has(type)) found.byType.set(type, i);
  }
  graph.bypass.set(node, found);
  return found;
}

function hasLink(node: UiNode, i: number): boolean {
  const link = node.inputs?.[i]?.link;
  return link !== null && link !== undefined;
}

/**
 * The input of a bypassed node that stands in for its output: same slot first, else the first of that type (`*`
 * matches anything). Constant time per call, so a node with many inputs and many readers stays linear.
 */
function bypassInput(graph: Graph, node: UiNode, slot: number, type: string): number | null {
  const same = node.inputs?.[slot];
  if (
    same !== undefined &&
    hasLink(node, slot) &&
    (type === '*' || [type, '*'].includes(typeText(same.type)))
  )
    return slot;
  const found = bypassInputs(graph, node);
  if (type === '*') return found.first;
  const typed = found.byType.get(type) ?? null;
  if (typed === null || found.firstAny === null) return typed ?? found.firstAny;
  return Math.min(typed, found.firstAny);
}

/** The next link to follow from `link`'s origin, or where the value comes from. */
function step(graph: Graph, link: UiLink): number | Source {
  const origin = graph.nodes.get(link.originId);
  if (origin === undefined || origin.mode === MODE_MUTED) return { kind: 'none' };
  if (origin.type === 'PrimitiveNode') {
    const saved = origin.widgets_values;
    return Array.isArray(saved) && saved.length > 0 ? { kind: 'value', value: saved[0] } : { kind: 'none' };
  }
  if (origin.type === 'Reroute') {
    const upstream = origin.inputs?.[0]?.link;
    return typeof upstream === 'number' ? upstream : { kind: 'none' };
  }
  if (origin.mode === MODE_BYPASS) {
    const type = typeText(origin.outputs?.[link.originSlot]?.type ?? link.type);
    const i = bypassInput(graph, origin, link.originSlot, type);
    const upstream = i === null ? undefined : origin.inputs?.[i]?.link;
    return typeof upstream === 'number' ? upstream : { kind: 'none' };
  }
  return { kind: 'link', nodeId: link.originId, slot: link.originSlot };
}

/**
 * Where a link's value comes from, looking through Reroutes and bypassed nodes. A loop, not recursion (a chain of
 * 100k Reroutes must not overflow the stack), and memoised: each link is followed once for all its readers.
 */
function resolve(graph: Graph, linkId: number): Source {
  const path: number[] = [];
  const onPath = new Set<number>();
  let source: Source | undefined;
  for (let id: number = linkId; source === undefined;) {
    const known = graph.resolved.get(id);
    const link = graph.links.get(id);
    if (known !== undefined) source = known;
    else if (link === undefined || onPath.has(id)) source = { kind: 'none' };
    else {
      path.push(id);
      onPath.add(id);
      const next = step(graph, link);
      if (typeof next === 'number') id = next;
      else source = next;
    }
  }
  for (const id of path) graph.resolved.set(id, source);
  return source;
}

function convertNode(
  graph: Graph,
  node: UiNode,
  def: NodeDefinition,
): { inputs: Record<string, unknown> } | { problem: string } {
  const widgets = assignWidgetValues(def, node.widgets_values);
  if ('problem' in widgets) return widgets;
  const inputs: Record<string, unknown> = { ...widgets.values };
  for (const input of node.inputs ?? []) {
    if (typeof input.link !== 'number') continue;
    const name = input.widget?.name ?? input.name;
    const source = resolve(graph, input.link);
    if (source.kind === 'link') inputs[name] = [source.nodeId, source.slot];
    else if (source.kind === 'value') inputs[name] = source.value;
    else if (input.widget === undefined) delete inputs[name];
  }
  return { inputs };
}

/** Drops links to nodes that are not in the prompt (muted, bypassed with nothing to pass, missing), as ComfyUI does. */
function dropDanglingLinks(workflow: Workflow): void {
  for (const node of Object.values(workflow)) {
    for (const [name, value] of Object.entries(node.inputs)) {
      if (Array.isArray(value) && value.length === 2 && !Object.hasOwn(workflow, String(value[0])))
        delete node.inputs[name];
    }
  }
}

/** Ids of the subgraphs a newer front end defines (`definitions.subgraphs[].id`); nodes of those types are subgraphs. */
function subgraphIds(ui: UiWorkflow): Set<string> {
  const parsed = subgraphsSchema.safeParse(ui.definitions);
  return new Set(parsed.success ? (parsed.data?.subgraphs ?? []).map((s) => s.id) : []);
}

function problem(node: UiNode, message: string): WorkflowProblem {
  return { nodeId: String(node.id), message: `node ${node.id} (${node.type}) ${message}, or ${HOW_TO}` };
}

/** Converts a UI-format export using the workers' node definitions (class name → definition). */
export function convertUiWorkflow(
  raw: unknown,
  definitions: ReadonlyMap<string, NodeDefinition>,
): ConversionResult {
  const parsed = uiWorkflowSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue === undefined ? '' : ` at ${issue.path.join('.')}: ${issue.message}`;
    return {
      problems: [{ nodeId: null, message: `the UI-format workflow is malformed${where}; ${HOW_TO}` }],
    };
  }
  return convertParsed(parsed.data, definitions);
}

function convertParsed(ui: UiWorkflow, definitions: ReadonlyMap<string, NodeDefinition>): ConversionResult {
  const graph: Graph = {
    nodes: new Map(ui.nodes.map((n) => [String(n.id), n])),
    links: new Map(ui.links.map((l) => normaliseLink(l)).map((l) => [l.id, l])),
    resolved: new Map(),
    bypass: new Map(),
  };
  const workflow: Workflow = {};
  const problems: WorkflowProblem[] = [];
  const subgraphs = subgraphIds(ui);
  for (const node of ui.nodes) {
    if (FRONT_END_ONLY.has(node.type) || node.mode === MODE_MUTED || node.mode === MODE_BYPASS) continue;
    const def = definitions.get(node.type);
    if (def === undefined) {
      const what = subgraphs.has(node.type)
        ? 'is a subgraph, which the conversion does not expand: convert it back to nodes'
        : 'has a node type no worker knows: install it on the workers';
      problems.push(problem(node, what));
      continue;
    }
    const converted = convertNode(graph, node, def);
    if ('problem' in converted) {
      problems.push(problem(node, `${converted.problem}: re-save it with the workers' version of the node`));
      continue;
    }
    workflow[String(node.id)] = {
      class_type: node.type,
      inputs: converted.inputs,
      _meta: { title: node.title ?? def.displayName },
    };
  }
  if (problems.length > 0) return { problems };
  if (Object.keys(workflow).length === 0) {
    return {
      problems: [{ nodeId: null, message: `the UI-format workflow has no node that would run; ${HOW_TO}` }],
    };
  }
  dropDanglingLinks(workflow);
  return { workflow };
}
