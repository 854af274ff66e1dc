/**
 * ComfyUI's validate_inputs for one node (and, through links, the nodes it depends on): required inputs present,
 * links well formed and of the right type, literals converted and within bounds or lists, VALIDATE_INPUTS hooks.
 */
import { isRecord } from './json.js';
import type { InputSpec } from './nodes/object-info.js';
import type { NodeRegistry } from './nodes/registry.js';
import { folderListing } from './nodes/file-nodes.js';
import { EMPTY_LISTING, type FolderListing, type NodeDef } from './nodes/types.js';
import type { DataDirs } from './paths.js';
import { convertInput } from './py-convert.js';
import { describeException, PyError, pyFloat, pyRepr, pyStr } from './py-format.js';

/** A prompt as POST /prompt sends it: node id → node. */
export type Prompt = Record<string, Record<string, unknown>>;

export interface PromptError {
  type: string;
  message: string;
  details: string;
  extra_info: Record<string, unknown>;
}

export type Verdict = { valid: boolean; errors: PromptError[] };

/** Python's `tuple[index]` on a node's RETURN_TYPES. */
function returnType(returns: string[], index: unknown): string {
  if (typeof index === 'boolean') index = index ? 1 : 0;
  if (typeof index !== 'number' || !Number.isInteger(index)) {
    throw new PyError(
      'TypeError',
      `tuple indices must be integers or slices, not ${typeof index === 'number' ? 'float' : 'str'}`,
    );
  }
  const t = returns[index < 0 ? returns.length + index : index];
  if (t === undefined) throw new PyError('IndexError', 'tuple index out of range');
  return t;
}

/** `validate_node_input`: equal types, a `*` wildcard, or overlapping comma-separated unions. */
function typesMatch(received: string, expected: unknown): boolean {
  if (received === expected) return true;
  if (typeof expected !== 'string') return false;
  const a = new Set(received.split(',').map((s) => s.trim()));
  const b = expected.split(',').map((s) => s.trim());
  return a.has('*') || b.includes('*') || b.some((t) => a.has(t));
}

/** Validates nodes on demand, remembering each verdict (ComfyUI's `validated` dict). */
export class NodeValidator {
  private readonly validated = new Map<string, Verdict>();
  private readonly visiting = new Set<string>();
  /** INPUT_TYPES' folder listing, read once per prompt (combo lists of files and folders are checked against it). */
  private listing: Promise<FolderListing> | null = null;
  constructor(
    private readonly prompt: Prompt,
    private readonly registry: NodeRegistry,
    private readonly dirs: DataDirs,
  ) {}

  results(): Map<string, Verdict> {
    return this.validated;
  }

  record(id: string, verdict: Verdict): void {
    this.validated.set(id, verdict);
  }

  async node(id: string): Promise<Verdict> {
    const known = this.validated.get(id);
    if (known !== undefined) return known;
    if (this.visiting.has(id)) throw new PyError('RecursionError', 'maximum recursion depth exceeded');
    this.visiting.add(id);
    try {
      return await this.check(id);
    } finally {
      this.visiting.delete(id);
    }
  }

  private async check(id: string): Promise<Verdict> {
    const node = this.prompt[id]!;
    const def = this.registry.get(String(node.class_type))!;
    const inputs = node.inputs;
    if (!isRecord(inputs)) throw new PyError('KeyError', "'inputs'");
    // Only nodes whose combo lists come from the data folder pay for reading it (ComfyUI reads it per node).
    if (def.listsFolders === true) this.listing ??= folderListing(this.dirs);
    const info = def.info(this.listing === null ? EMPTY_LISTING : await this.listing).input;
    const errors: PromptError[] = [];
    let valid = true;
    const specs: Array<[string, InputSpec, boolean]> = [
      ...Object.entries(info.required).map(([n, s]): [string, InputSpec, boolean] => [n, s, true]),
      ...Object.entries(info.optional ?? {}).map(([n, s]): [string, InputSpec, boolean] => [n, s, false]),
    ];
    for (const [name, spec, required] of specs) {
      if (!(name in inputs)) {
        if (required)
          errors.push({
            type: 'required_input_missing',
            message: 'Required input is missing',
            details: name,
            extra_info: { input_name: name },
          });
        continue;
      }
      const config = [spec[0], spec[1] ?? {}];
      const val = inputs[name];
      const problem = Array.isArray(val)
        ? await this.link(name, val, config)
        : this.literal(def, inputs, name, config);
      if (problem === 'upstream') valid = false;
      else if (problem !== null) errors.push(problem);
    }
    if (
      def.validate !== undefined &&
      def.validate.inputs.every((n) => n in inputs && !Array.isArray(inputs[n]))
    ) {
      const verdict = await def.validate.check(inputs, this.dirs);
      if (verdict !== true) {
        for (const n of def.validate.inputs) {
          errors.push({
            type: 'custom_validation_failed',
            message: 'Custom validation failed for node',
            details: `${n} - ${verdict}`,
            extra_info: { input_name: n },
          });
        }
      }
    }
    const verdict = { valid: valid && errors.length === 0, errors };
    this.validated.set(id, verdict);
    return verdict;
  }

  private async link(
    name: string,
    val: unknown[],
    config: unknown[],
  ): Promise<PromptError | 'upstream' | null> {
    if (val.length !== 2) {
      return {
        type: 'bad_linked_input',
        message: 'Bad linked input, must be a length-2 list of [node_id, slot_index]',
        details: name,
        extra_info: { input_name: name, input_config: config, received_value: val },
      };
    }
    const [from, slot] = val;
    if (typeof from !== 'string' || !(from in this.prompt)) throw new PyError('KeyError', pyRepr(from));
    const received = returnType(
      this.registry.get(String(this.prompt[from]!.class_type))!.info(EMPTY_LISTING).output,
      slot,
    );
    if (!typesMatch(received, config[0])) {
      return {
        type: 'return_type_mismatch',
        message: 'Return type mismatch between linked nodes',
        details: `${name}, received_type(${received}) mismatch input_type(${pyStr(config[0])})`,
        extra_info: { input_name: name, input_config: config, received_type: received, linked_node: val },
      };
    }
    try {
      return (await this.node(from)).valid ? null : 'upstream';
    } catch (err) {
      const ex = describeException(err);
      const reason = {
        type: 'exception_during_inner_validation',
        message: 'Exception when validating inner node',
        details: ex.message,
        extra_info: {
          input_name: name,
          input_config: config,
          exception_message: ex.message,
          exception_type: ex.type,
          traceback: ex.traceback,
          linked_node: val,
        },
      };
      this.validated.set(from, { valid: false, errors: [reason] });
      return 'upstream';
    }
  }

  private literal(
    def: NodeDef,
    inputs: Record<string, unknown>,
    name: string,
    config: unknown[],
  ): PromptError | null {
    const [type, options] = config;
    let val: unknown;
    try {
      val = convertInput(type, inputs[name]);
      if (type === 'INT' || type === 'FLOAT' || type === 'STRING' || type === 'BOOLEAN') inputs[name] = val;
    } catch (err) {
      const ex = describeException(err);
      return {
        type: 'invalid_input_type',
        message: `Failed to convert an input value to a ${pyStr(type)} value`,
        details: `${name}, ${pyStr(inputs[name])}, ${ex.message}`,
        extra_info: {
          input_name: name,
          input_config: config,
          received_value: inputs[name],
          exception_message: ex.message,
        },
      };
    }
    if (def.validate?.inputs.includes(name) === true) return null;
    const bounds = isRecord(options) ? options : {};
    const show = (n: unknown): string => (type === 'FLOAT' && typeof n === 'number' ? pyFloat(n) : pyStr(n));
    const extra = { input_name: name, input_config: config, received_value: val };
    if (typeof bounds.min === 'number' && typeof val === 'number' && val < bounds.min) {
      return {
        type: 'value_smaller_than_min',
        message: `Value ${show(val)} smaller than min of ${show(bounds.min)}`,
        details: name,
        extra_info: extra,
      };
    }
    if (typeof bounds.max === 'number' && typeof val === 'number' && val > bounds.max) {
      return {
        type: 'value_bigger_than_max',
        message: `Value ${show(val)} bigger than max of ${show(bounds.max)}`,
        details: name,
        extra_info: extra,
      };
    }
    if (Array.isArray(type) && !type.includes(val)) {
      const long = type.length > 20;
      return {
        type: 'value_not_in_list',
        message: 'Value not in list',
        details: `${name}: '${pyStr(val)}' not in ${long ? `(list of length ${type.length})` : pyRepr(type)}`,
        extra_info: { input_name: name, input_config: long ? null : config, received_value: val },
      };
    }
    return null;
  }
}
