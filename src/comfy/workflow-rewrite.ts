/**
 * Tenant isolation for one job's workflow. ComfyUI's input and output folders are shared by every prompt, so
 * before a workflow runs: every saver writes under `arrakis/<jobId>/` (a unique prefix also defeats ComfyUI's
 * node cache, which would otherwise hand back another prompt's files), and every image loader may only read
 * the files uploaded for this job.
 */
import type { Workflow } from '../jobs/types.js';
import type { WorkflowProblem } from './workflow-check.js';

/** Loader nodes whose `image` input names a file in ComfyUI's shared input folder. */
export const INPUT_LOADER_CLASSES: ReadonlySet<string> = new Set(['LoadImage', 'LoadImageMask']);

/** The workflow reaches outside its own job's files; the job fails with `workflow_invalid`. */
export class WorkflowRewriteError extends Error {
  readonly code = 'workflow_invalid' as const;
  readonly problems: WorkflowProblem[];
  constructor(problems: WorkflowProblem[]) {
    super(`workflow rejected: ${problems.map((p) => `node ${p.nodeId}: ${p.message}`).join('; ')}`);
    this.name = 'WorkflowRewriteError';
    this.problems = problems;
  }

  /** The ids of the offending nodes. */
  get nodeIds(): string[] {
    return this.problems.flatMap((p) => (p.nodeId === null ? [] : [p.nodeId]));
  }
}

const JOB_ID = /^[A-Za-z0-9_-]{1,128}$/;
const MAX_PREFIX = 64;

/**
 * A prefix reduced to one safe path segment: no separators, dots or ComfyUI `%...%` formatting (which can
 * read other nodes' values); 'out' when nothing is left.
 */
export function sanitizePrefix(original: unknown): string {
  if (typeof original !== 'string') return 'out';
  const cleaned = original
    .replace(/[^A-Za-z0-9_-]+/g, '_')
    .replace(/^[_-]+|[_-]+$/g, '')
    .slice(0, MAX_PREFIX);
  return cleaned === '' ? 'out' : cleaned;
}

/** Uploaded-name lookup that never falls through to Object.prototype keys. */
function uploadedName(inputs: ReadonlyMap<string, string>, value: unknown): string | null {
  return typeof value === 'string' ? (inputs.get(value) ?? null) : null;
}

/**
 * Returns a new workflow in which savers write under `arrakis/<jobId>/` and loaders read only this job's
 * uploads (`inputs`: input name → uploaded name `subfolder/name`). Throws WorkflowRewriteError listing every
 * loader that names anything else (a path, `..`, another file, a link). The input workflow is never mutated.
 */
export function rewriteWorkflowForJob(
  workflow: Workflow,
  jobId: string,
  inputs: ReadonlyMap<string, string> | Readonly<Record<string, string>>,
): Workflow {
  if (!JOB_ID.test(jobId)) throw new TypeError(`job id "${jobId}" is not a safe path segment`);
  const uploads = inputs instanceof Map ? inputs : new Map(Object.entries(inputs));
  const rewritten = structuredClone(workflow);
  const problems: WorkflowProblem[] = [];
  for (const [nodeId, node] of Object.entries(rewritten)) {
    if (Object.hasOwn(node.inputs, 'filename_prefix')) {
      node.inputs.filename_prefix = `arrakis/${jobId}/${sanitizePrefix(node.inputs.filename_prefix)}`;
    }
    if (INPUT_LOADER_CLASSES.has(node.class_type)) {
      const name = uploadedName(uploads, node.inputs.image);
      if (name === null) {
        problems.push({
          nodeId,
          message: `${node.class_type} input "image" must be the name of one of this job's inputs (got ${JSON.stringify(node.inputs.image) ?? 'nothing'})`,
        });
      } else {
        node.inputs.image = name;
      }
    }
  }
  if (problems.length > 0) throw new WorkflowRewriteError(problems);
  return rewritten;
}
