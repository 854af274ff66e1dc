/** Maps ComfyUI's refusal of a prompt (400 body, or a 200 with node_errors) to a ComfyRejectedError. */
import type { Workflow } from './workflow.js';
import { ComfyRejectedError, type ComfyInputError, type ComfyNodeError } from './contract.js';
import { nodeErrorEntrySchema, type NodeErrorEntry, type PromptRejected } from './schemas.js';
import { checkWorkflow } from './workflow-check.js';

function describeError(e: NodeErrorEntry['errors'][number]): string {
  return e.details ? `${e.message}: ${e.details}` : e.message;
}

function describeEntry(entry: NodeErrorEntry): string {
  const parts = entry.errors.map(describeError).filter(Boolean);
  return parts.length > 0 ? parts.join('; ') : 'node failed validation';
}

function fromNodeErrors(nodeErrors: Record<string, unknown>, workflow: Workflow): ComfyNodeError[] {
  return Object.entries(nodeErrors).map(([nodeId, raw]) => {
    const entry = nodeErrorEntrySchema.safeParse(raw);
    const classType = entry.success ? (entry.data.class_type ?? null) : null;
    return {
      nodeId,
      classType: classType ?? workflow[nodeId]?.class_type ?? null,
      message: entry.success ? describeEntry(entry.data) : 'node failed validation',
    };
  });
}

/** Each error of `node_errors` with the input ComfyUI named in `extra_info.input_name`. */
function inputErrors(nodeErrors: Record<string, unknown>, workflow: Workflow): ComfyInputError[] {
  return Object.entries(nodeErrors).flatMap(([nodeId, raw]) => {
    const entry = nodeErrorEntrySchema.safeParse(raw);
    if (!entry.success) return [];
    const classType = entry.data.class_type ?? workflow[nodeId]?.class_type ?? null;
    return entry.data.errors.map((e) => ({
      nodeId,
      classType,
      input: e.extra_info?.input_name ?? null,
      message: describeError(e) || 'node failed validation',
    }));
  });
}

/** The first input error as the end of a message: `node 1 (EmptyImage) input "width": …`. */
function firstReason(details: readonly ComfyInputError[]): string {
  const first = details[0];
  if (first === undefined) return '';
  const cls = first.classType === null ? '' : ` (${first.classType})`;
  const input = first.input === null ? '' : ` input "${first.input}"`;
  return `; node ${first.nodeId}${cls}${input}: ${first.message}`;
}

/**
 * Which nodes an `invalid_prompt` error is about: the id ComfyUI names in `details` ("Node ID '#1'"), else
 * nodes whose class the message names ("node X does not exist"), else our own structural analysis.
 */
function blameInvalidPrompt(error: PromptRejected['error'], workflow: Workflow): ComfyNodeError[] {
  const named = /Node ID '#?([^']+)'/.exec(error.details)?.[1];
  if (named !== undefined) {
    return [{ nodeId: named, classType: workflow[named]?.class_type ?? null, message: error.message }];
  }
  const missingClass = /node (\S+) does not exist/.exec(error.message)?.[1];
  const byClass = Object.entries(workflow).filter(([, node]) => node.class_type === missingClass);
  if (byClass.length > 0) {
    return byClass.map(([nodeId, node]) => ({ nodeId, classType: node.class_type, message: error.message }));
  }
  return checkWorkflow(workflow).flatMap((p) =>
    p.nodeId === null
      ? []
      : [{ nodeId: p.nodeId, classType: workflow[p.nodeId]?.class_type ?? null, message: p.message }],
  );
}

/** The error for a 400 answer to POST /prompt. */
export function rejectionFromBody(body: PromptRejected, workflow: Workflow): ComfyRejectedError {
  const { error } = body;
  let nodeErrors = fromNodeErrors(body.node_errors, workflow);
  if (nodeErrors.length === 0 && error.type === 'invalid_prompt')
    nodeErrors = blameInvalidPrompt(error, workflow);
  const kind = error.type ? `${error.type}: ` : '';
  const nodes = nodeErrors.length > 0 ? ` (nodes ${nodeErrors.map((n) => n.nodeId).join(', ')})` : '';
  const details = inputErrors(body.node_errors, workflow);
  return new ComfyRejectedError(
    `ComfyUI rejected the prompt: ${kind}${error.message}${nodes}${firstReason(details)}`,
    nodeErrors,
    details,
  );
}

/** The error for a 200 answer whose node_errors is not empty (ComfyUI would run only the valid outputs). */
export function rejectionFromPartial(
  nodeErrors: Record<string, unknown>,
  workflow: Workflow,
): ComfyRejectedError {
  const errors = fromNodeErrors(nodeErrors, workflow);
  const ids = errors.map((n) => n.nodeId).join(', ');
  const details = inputErrors(nodeErrors, workflow);
  return new ComfyRejectedError(
    `ComfyUI rejected part of the prompt (nodes ${ids})${firstReason(details)}`,
    errors,
    details,
  );
}
