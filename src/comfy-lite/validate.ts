/**
 * ComfyUI's validate_prompt / validate_inputs (execution.py), error for error: the same types, messages,
 * details and extra_info, the same "only valid outputs run" rule. Converted literal inputs are written back into
 * the prompt, as ComfyUI does (history shows them converted).
 */
import { isRecord } from './json.js';
import type { NodeRegistry } from './nodes/registry.js';
import { EMPTY_LISTING } from './nodes/types.js';
import type { DataDirs } from './paths.js';
import { describeException, pyStr } from './py-format.js';
import { NodeValidator, type Prompt, type PromptError, type Verdict } from './validate-node.js';

export type { PromptError } from './validate-node.js';

export interface NodeErrors {
  errors: PromptError[];
  dependent_outputs: string[];
  class_type: string;
}

export type { Prompt };

export type Validation =
  | { ok: true; prompt: Prompt; outputs: string[]; nodeErrors: Record<string, NodeErrors> }
  | { ok: false; error: PromptError; nodeErrors: Record<string, NodeErrors> };

const failure = (type: string, message: string, details: string): Validation => ({
  ok: false,
  error: { type, message, details, extra_info: {} },
  nodeErrors: {},
});

/** The checks before the node graph: class_type present and known, at least one output node. */
function checkClasses(prompt: Prompt, registry: NodeRegistry): Validation | string[] {
  const outputs: string[] = [];
  for (const [id, node] of Object.entries(prompt)) {
    if (!('class_type' in node))
      return failure(
        'invalid_prompt',
        'Cannot execute because a node is missing the class_type property.',
        `Node ID '#${id}'`,
      );
    const def = typeof node.class_type === 'string' ? registry.get(node.class_type) : undefined;
    if (def === undefined)
      return failure(
        'invalid_prompt',
        `Cannot execute because node ${pyStr(node.class_type)} does not exist.`,
        `Node ID '#${id}'`,
      );
    if (def.info(EMPTY_LISTING).output_node) outputs.push(id);
  }
  return outputs.length === 0 ? failure('prompt_no_outputs', 'Prompt has no outputs', '') : outputs;
}

/** Validates a prompt the way ComfyUI's `POST /prompt` does. */
export async function validatePrompt(
  raw: Record<string, unknown>,
  registry: NodeRegistry,
  dirs: DataDirs,
): Promise<Validation> {
  const prompt: Prompt = {};
  for (const [id, node] of Object.entries(raw)) prompt[id] = isRecord(node) ? node : {};
  const outputs = checkClasses(prompt, registry);
  if (!Array.isArray(outputs)) return outputs;
  const validator = new NodeValidator(prompt, registry, dirs);
  const good: string[] = [];
  const failed: Array<[string, PromptError[]]> = [];
  const nodeErrors: Record<string, NodeErrors> = {};
  for (const o of outputs) {
    let verdict: Verdict;
    try {
      verdict = await validator.node(o);
    } catch (err) {
      const ex = describeException(err);
      const reason = {
        type: 'exception_during_validation',
        message: 'Exception when validating node',
        details: ex.message,
        extra_info: { exception_type: ex.type, traceback: ex.traceback },
      };
      verdict = { valid: false, errors: [reason] };
      validator.record(o, verdict);
    }
    if (verdict.valid) {
      good.push(o);
      continue;
    }
    failed.push([o, verdict.errors]);
    for (const [id, v] of validator.results()) {
      if (v.valid || v.errors.length === 0) continue;
      nodeErrors[id] ??= {
        errors: v.errors,
        dependent_outputs: [],
        class_type: String(prompt[id]!.class_type),
      };
      nodeErrors[id].dependent_outputs.push(o);
    }
  }
  if (good.length === 0) {
    const details = failed.flatMap(([, errs]) => errs.map((e) => `${e.message}: ${e.details}`)).join('\n');
    return {
      ok: false,
      error: {
        type: 'prompt_outputs_failed_validation',
        message: 'Prompt outputs failed validation',
        details,
        extra_info: {},
      },
      nodeErrors,
    };
  }
  return { ok: true, prompt, outputs: good, nodeErrors };
}
