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
}

function typesMatch(a: string, b: string): boolean {
  return a === '*' || b === '*' || a === b;
}

/** The input of a bypassed node that stands in for its output: same slot first, else the first of that type. */
function bypassInput(node: UiNode, slot: number, type: string): number | null {
  const inputs = node.inputs ?? [];
  const candidates = [slot, ...inputs.keys()];
  for (const i of candidates) {
    const input = inputs[i];
    if (
      input !== undefined &&
      input.link !== null &&
      input.link !== undefined &&
      typesMatch(typeText(input.type), type)
    )
      return i;
  }
  return null;
}

function resolve(graph: Graph, linkId: number, seen: Set<number> = new Set()): Source {
  const link = graph.links.get(linkId);
  if (link === undefined || seen.has(linkId)) return { kind: 'none' };
  seen.add(linkId);
  const origin = graph.nodes.get(link.originId);
  if (origin === undefined || origin.mode === MODE_MUTED) return { kind: 'none' };
  if (origin.type === 'PrimitiveNode') {
    const saved = origin.widgets_values;
    return Array.isArray(saved) && saved.length > 0 ? { kind: 'value', value: saved[0] } : { kind: 'none' };
  }
  if (origin.type === 'Reroute') {
    const upstream = origin.inputs?.[0]?.link;
    return typeof upstream === 'number' ? resolve(graph, upstream, seen) : { kind: 'none' };
  }
  if (origin.mode === MODE_BYPASS) {
    const type = typeText(origin.outputs?.[link.originSlot]?.type ?? link.type);
    const i = bypassInput(origin, link.originSlot, type);
    const upstream = i === null ? undefined : origin.inputs?.[i]?.link;
    return typeof upstream === 'number' ? resolve(graph, upstream, seen) : { kind: 'none' };
  }
  return { kind: 'link', nodeId: link.originId, slot: link.originSlot };
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
