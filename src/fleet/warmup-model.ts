/**
 * The pool's warm-up workflow made to load a chosen model: every core loader input of the model's kind
 * (e.g. `CheckpointLoaderSimple.ckpt_name` for a checkpoint) names it instead. A workflow with no such
 * loader is returned as null: it would not load the model.
 */
import { z } from 'zod';
import { CORE_LOADERS, type ModelRef } from '../models/model-refs.js';

type Workflow = Record<string, unknown>;

const nodeSchema = z.looseObject({ class_type: z.string(), inputs: z.record(z.string(), z.unknown()) });

export function warmupLoading(workflow: Workflow, ref: ModelRef): Workflow | null {
  const out: Workflow = {};
  let found = false;
  for (const [id, raw] of Object.entries(workflow)) {
    const parsed = nodeSchema.safeParse(raw);
    if (!parsed.success) {
      out[id] = raw;
      continue;
    }
    const node = parsed.data;
    const inputs = { ...node.inputs };
    for (const l of CORE_LOADERS) {
      if (l.classType === node.class_type && l.kind === ref.kind && typeof inputs[l.input] === 'string') {
        inputs[l.input] = ref.name;
        found = true;
      }
    }
    out[id] = { ...node, inputs };
  }
  return found ? out : null;
}
