/**
 * Templates: an operator's ComfyUI workflow plus named, typed parameters, each written into one node input
 * (`node` + `input`) or several (`targets`, e.g. one `size` into a width and a height).
 * End users send `{ template, params }`; params are checked against their declared type, bounds and enum,
 * then injected into a copy of the workflow. Pure functions: no store, no HTTP.
 */
import type { ParamTarget, Template, TemplateParam, Workflow } from './types.js';

/** The node inputs a parameter writes to: its `targets`, else its single `node` + `input`. */
export function paramTargets(p: TemplateParam): ParamTarget[] {
  if (p.targets !== undefined) return p.targets;
  return p.node === undefined || p.input === undefined ? [] : [{ node: p.node, input: p.input }];
}

/** Whether an account may see and run a template: its own, or a global one. */
export function templateVisibleTo(t: Pick<Template, 'accountId'>, accountId: string): boolean {
  return t.accountId === null || t.accountId === accountId;
}

export interface ParamProblem {
  path: string;
  message: string;
}

function checkValue(p: TemplateParam, value: unknown): string | null {
  switch (p.type) {
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) return 'must be an integer';
      break;
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) return 'must be a number';
      break;
    case 'boolean':
      if (typeof value !== 'boolean') return 'must be true or false';
      break;
    case 'string':
    case 'image':
      if (typeof value !== 'string') return 'must be a string';
      if (p.max_length !== undefined && value.length > p.max_length)
        return `must be at most ${p.max_length} characters`;
      if (p.type === 'image' && !/^[A-Za-z0-9._-]{1,64}$/.test(value))
        return 'must name one of the job inputs';
      break;
  }
  if (typeof value === 'number') {
    if (p.minimum !== undefined && value < p.minimum) return `must be ≥ ${p.minimum}`;
    if (p.maximum !== undefined && value > p.maximum) return `must be ≤ ${p.maximum}`;
  }
  if (p.enum !== undefined && !p.enum.some((e) => e === value))
    return `must be one of ${JSON.stringify(p.enum)}`;
  return null;
}

/** Problems with a template definition itself (params pointing at missing nodes, bad defaults). */
export function checkTemplate(t: Pick<Template, 'workflow' | 'params'>): ParamProblem[] {
  const problems: ParamProblem[] = [];
  const seen = new Set<string>();
  t.params.forEach((p, i) => {
    if (seen.has(p.name))
      problems.push({ path: `params.${i}.name`, message: `duplicate parameter ${p.name}` });
    seen.add(p.name);
    const targets = paramTargets(p);
    if (targets.length === 0) {
      problems.push({ path: `params.${i}`, message: 'needs node + input, or targets' });
    }
    if (p.targets !== undefined && (p.node !== undefined || p.input !== undefined)) {
      problems.push({
        path: `params.${i}.targets`,
        message: 'give either node + input or targets, not both',
      });
    }
    targets.forEach((target, j) => {
      if (t.workflow[target.node] !== undefined) return;
      const path = p.targets === undefined ? `params.${i}.node` : `params.${i}.targets.${j}.node`;
      problems.push({ path, message: `node ${target.node} is not in the workflow` });
    });
    if (p.default !== undefined) {
      const bad = checkValue(p, p.default);
      if (bad !== null) problems.push({ path: `params.${i}.default`, message: `default ${bad}` });
    }
  });
  return problems;
}

/** Validates `params` against the template and returns the workflow with every value injected. */
export function applyTemplate(
  t: Pick<Template, 'workflow' | 'params'>,
  params: Record<string, unknown>,
): { workflow: Workflow } | { problems: ParamProblem[] } {
  const problems: ParamProblem[] = [];
  const known = new Set(t.params.map((p) => p.name));
  for (const name of Object.keys(params)) {
    if (!known.has(name)) problems.push({ path: `params.${name}`, message: 'unknown parameter' });
  }
  const workflow: Workflow = structuredClone(t.workflow);
  for (const p of t.params) {
    const given = params[p.name];
    const value = given === undefined ? p.default : given;
    if (value === undefined) {
      if (p.required === true) problems.push({ path: `params.${p.name}`, message: 'is required' });
      continue;
    }
    const bad = checkValue(p, value);
    if (bad !== null) {
      problems.push({ path: `params.${p.name}`, message: bad });
      continue;
    }
    for (const target of paramTargets(p)) {
      const node = workflow[target.node];
      if (node !== undefined) node.inputs[target.input] = value;
    }
  }
  return problems.length > 0 ? { problems } : { workflow };
}

/**
 * The template's workflow with every default written in, and the inputs that only a submission fills (params
 * without a default), as `node\0input` keys: what can be validated when the template is saved.
 */
export function workflowWithDefaults(t: Pick<Template, 'workflow' | 'params'>): {
  workflow: Workflow;
  open: Set<string>;
} {
  const workflow: Workflow = structuredClone(t.workflow);
  const open = new Set<string>();
  for (const p of t.params) {
    for (const target of paramTargets(p)) {
      const node = workflow[target.node];
      if (p.default === undefined) open.add(`${target.node}\0${target.input}`);
      else if (node !== undefined) node.inputs[target.input] = p.default;
    }
  }
  return { workflow, open };
}

/** JSON Schema of a template's params object, for the OpenAPI document. */
export function paramsJsonSchema(t: Pick<Template, 'params'>): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  const required: string[] = [];
  for (const p of t.params) {
    const type = p.type === 'image' ? 'string' : p.type;
    const schema: Record<string, unknown> = { type };
    if (p.description !== undefined) schema.description = p.description;
    if (p.type === 'image') schema.description = `${p.description ?? ''} (name of a job input)`.trim();
    if (p.default !== undefined) schema.default = p.default;
    if (p.minimum !== undefined) schema.minimum = p.minimum;
    if (p.maximum !== undefined) schema.maximum = p.maximum;
    if (p.enum !== undefined) schema.enum = p.enum;
    if (p.max_length !== undefined) schema.maxLength = p.max_length;
    properties[p.name] = schema;
    if (p.required === true && p.default === undefined) required.push(p.name);
  }
  return { type: 'object', additionalProperties: false, properties, required };
}
