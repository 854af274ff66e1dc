/**
 * ComfyUI's `validate_inputs` (execution.py) run before admission, on the node definitions the workers reported
 * from `/object_info`: required inputs present, literals converted as Python converts them (int(), float(),
 * str(), bool()), within min/max, and combo values in their list. Messages are ComfyUI's own `message: details`,
 * so a refusal at submission reads exactly like the one ComfyUI would have sent after queueing.
 *
 * What `/object_info` cannot tell is left to ComfyUI: link return types, and inputs a node checks itself
 * (VALIDATE_INPUTS; ComfyUI then skips min/max and the combo list) — for those we skip the combo check of
 * every file input (LoadImage's `image`, model names), whose lists differ per worker and are checked by the
 * file-input rules instead.
 */
import { convertInput } from '../comfy-lite/py-convert.js';
import { describeException, pyFloat, pyRepr, pyStr } from '../comfy-lite/py-format.js';
import type { Workflow } from './workflow.js';
import type { NodeDefinition, NodeInputDefinition } from './node-definitions.js';

/** One input ComfyUI would refuse, with ComfyUI's error type and text. */
export interface InputProblem {
  nodeId: string;
  classType: string;
  input: string;
  /** ComfyUI's error type: `required_input_missing`, `invalid_input_type`, `value_smaller_than_min`, … */
  type: string;
  /** ComfyUI's `message: details`. */
  message: string;
}

/** True when the combo list of `input` must not be checked here (file inputs; see the module comment). */
export type SkipCombo = (classType: string, input: string) => boolean;

const CONVERTED = new Set(['INT', 'FLOAT', 'STRING', 'BOOLEAN']);

/** Python's `==` between JSON scalars (`1 == 1.0 == True`), as `val not in combo_options` compares. */
function pyEquals(a: unknown, b: unknown): boolean {
  const num = (v: unknown): number | null =>
    typeof v === 'number' ? v : typeof v === 'boolean' ? (v ? 1 : 0) : null;
  const [x, y] = [num(a), num(b)];
  if (x !== null && y !== null) return x === y;
  return a === b;
}

function literalProblem(
  def: NodeInputDefinition,
  raw: unknown,
  skipCombo: boolean,
): { type: string; message: string } | null {
  // The front end wraps list-valued widgets as { __value__: [...] } so they do not read as links.
  const unwrapped =
    typeof raw === 'object' && raw !== null && !Array.isArray(raw) && '__value__' in raw
      ? raw.__value__
      : raw;
  let val: unknown = unwrapped;
  try {
    if (CONVERTED.has(def.type)) val = convertInput(def.type, unwrapped);
  } catch (err) {
    const ex = describeException(err);
    return {
      type: 'invalid_input_type',
      message: `Failed to convert an input value to a ${def.type} value: ${def.name}, ${pyStr(unwrapped)}, ${ex.message}`,
    };
  }
  const show = (n: number): string => (def.type === 'FLOAT' ? pyFloat(n) : pyRepr(n));
  const { min, max } = def.options;
  if (typeof min === 'number' && typeof val === 'number' && val < min) {
    return {
      type: 'value_smaller_than_min',
      message: `Value ${show(val)} smaller than min of ${show(min)}: ${def.name}`,
    };
  }
  if (typeof max === 'number' && typeof val === 'number' && val > max) {
    return {
      type: 'value_bigger_than_max',
      message: `Value ${show(val)} bigger than max of ${show(max)}: ${def.name}`,
    };
  }
  if (def.type === 'COMBO' && !skipCombo && !def.choices.some((c) => pyEquals(c, val))) {
    const list = def.choices.length > 20 ? `(list of length ${def.choices.length})` : pyRepr(def.choices);
    return {
      type: 'value_not_in_list',
      message: `Value not in list: ${def.name}: '${pyStr(val)}' not in ${list}`,
    };
  }
  return null;
}

/** The problems of one node against its definition, in the definition's input order. */
function nodeProblems(
  nodeId: string,
  node: Workflow[string],
  def: NodeDefinition,
  skipCombo: SkipCombo,
): InputProblem[] {
  const problems: InputProblem[] = [];
  for (const input of def.inputs) {
    const base = { nodeId, classType: node.class_type, input: input.name };
    if (!Object.hasOwn(node.inputs, input.name)) {
      if (!input.optional) {
        problems.push({
          ...base,
          type: 'required_input_missing',
          message: `Required input is missing: ${input.name}`,
        });
      }
      continue;
    }
    const value = node.inputs[input.name];
    // Links are checked by ComfyUI (their types need RETURN_TYPES, and the linked node is validated on its own).
    if (Array.isArray(value)) continue;
    const problem = literalProblem(input, value, skipCombo(node.class_type, input.name));
    if (problem !== null) problems.push({ ...base, ...problem });
  }
  return problems;
}

/**
 * Every input ComfyUI's validation would refuse, for the nodes whose class has a known definition (a class
 * without one is the node-type check's business). An empty list means ComfyUI should accept the inputs.
 */
export function validateInputs(
  workflow: Workflow,
  definitions: ReadonlyMap<string, NodeDefinition>,
  skipCombo: SkipCombo = () => false,
): InputProblem[] {
  const problems: InputProblem[] = [];
  for (const [nodeId, node] of Object.entries(workflow)) {
    const def = definitions.get(node.class_type);
    if (def !== undefined) problems.push(...nodeProblems(nodeId, node, def, skipCombo));
  }
  return problems;
}
