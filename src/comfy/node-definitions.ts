/**
 * Node definitions read from ComfyUI's `/object_info`, reduced to what converting a UI-format workflow needs:
 * each input's name, type and options in the order the front end lays out its widgets.
 */
import { z } from 'zod';

/** One input of a node class, as `/object_info` declares it. */
export interface NodeInputDefinition {
  name: string;
  /** `INT`, `IMAGE`, … or `COMBO` for a list of choices. */
  type: string;
  /** The choices of a combo (empty for other types). */
  choices: readonly unknown[];
  options: Readonly<Record<string, unknown>>;
  optional: boolean;
}

/** What the converter knows of one node class. */
export interface NodeDefinition {
  name: string;
  displayName: string;
  /** Required then optional inputs, in `input_order` when the server sends it (hidden inputs left out). */
  inputs: readonly NodeInputDefinition[];
  outputs: readonly string[];
}

const inputSpec = z.array(z.unknown()).min(1);
const entrySchema = z.looseObject({
  input: z
    .looseObject({
      required: z.record(z.string(), z.unknown()).optional(),
      optional: z.record(z.string(), z.unknown()).optional(),
    })
    .optional(),
  input_order: z
    .looseObject({ required: z.array(z.string()).optional(), optional: z.array(z.string()).optional() })
    .optional(),
  output: z.array(z.unknown()).optional(),
  display_name: z.string().nullable().optional(),
});

function inputDefinition(name: string, raw: unknown, optional: boolean): NodeInputDefinition | null {
  const spec = inputSpec.safeParse(raw);
  if (!spec.success) return null;
  const [kind, second] = spec.data;
  const options = z.record(z.string(), z.unknown()).safeParse(second);
  const opts = options.success ? options.data : {};
  if (Array.isArray(kind)) return { name, type: 'COMBO', choices: kind, options: opts, optional };
  // Newer servers spell a combo as ["COMBO", { options: [...] }].
  const listed = Array.isArray(opts.options) ? opts.options : [];
  return {
    name,
    type: typeof kind === 'string' ? kind : String(kind),
    choices: listed,
    options: opts,
    optional,
  };
}

function ordered(group: Record<string, unknown> | undefined, order: string[] | undefined): string[] {
  const names = Object.keys(group ?? {});
  if (order === undefined) return names;
  return [...order.filter((n) => names.includes(n)), ...names.filter((n) => !order.includes(n))];
}

/** Parses one `/object_info` entry; null when it is not shaped like one. */
export function parseNodeDefinition(name: string, raw: unknown): NodeDefinition | null {
  const entry = entrySchema.safeParse(raw);
  if (!entry.success) return null;
  const { input, input_order: order } = entry.data;
  const inputs: NodeInputDefinition[] = [];
  for (const [group, optional] of [
    ['required', false],
    ['optional', true],
  ] as const) {
    for (const inputName of ordered(input?.[group], order?.[group])) {
      const def = inputDefinition(inputName, input?.[group]?.[inputName], optional);
      if (def !== null) inputs.push(def);
    }
  }
  return {
    name,
    displayName: entry.data.display_name ?? name,
    inputs,
    outputs: (entry.data.output ?? []).map((o) => (Array.isArray(o) ? 'COMBO' : String(o))),
  };
}

/** Parses a whole `/object_info` answer; entries that do not parse are left out (one odd custom node hides nothing else). */
export function parseNodeDefinitions(objectInfo: Record<string, unknown>): Map<string, NodeDefinition> {
  const definitions = new Map<string, NodeDefinition>();
  for (const [name, raw] of Object.entries(objectInfo)) {
    const def = parseNodeDefinition(name, raw);
    if (def !== null) definitions.set(name, def);
  }
  return definitions;
}
