/**
 * Tenant isolation for one job's workflow. ComfyUI's input and output folders are shared by every prompt, so
 * before a workflow runs: every saver writes under `arrakis/<jobId>/` (a unique prefix also defeats ComfyUI's
 * node cache, which would otherwise hand back another prompt's files), and every image loader may only read
 * the files uploaded for this job; every other input that names a file follows the rules of file-inputs.ts.
 */
import type { Workflow } from './workflow.js';
import { checkFileInputs, fileInputRule, type FileInputCatalog } from './file-inputs.js';
import type { WorkflowProblem } from './workflow-check.js';

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

/** Options of rewriteWorkflowForJob beyond the job itself. */
export interface RewriteOptions {
  /** The ComfyUI server's own file inputs (from its `/object_info`); null applies the table and names only. */
  catalog?: FileInputCatalog | null;
  /** Node types the operator allowlisted for the job's account (see docs/security.md). */
  fileNodeAllowlist?: readonly string[];
}

/**
 * Returns a new workflow in which savers write under `arrakis/<jobId>/` and loaders read only this job's
 * uploads (`inputs`: input name → uploaded name `subfolder/name`). Throws WorkflowRewriteError listing every
 * file input that breaks its rule (checkFileInputs): a loader naming anything but this job's inputs, a model
 * name that is a path, any other file-reading input. The input workflow is never mutated.
 */
export function rewriteWorkflowForJob(
  workflow: Workflow,
  jobId: string,
  inputs: ReadonlyMap<string, string> | Readonly<Record<string, string>>,
  options: RewriteOptions = {},
): Workflow {
  if (!JOB_ID.test(jobId)) throw new TypeError(`job id "${jobId}" is not a safe path segment`);
  const uploads = inputs instanceof Map ? inputs : new Map(Object.entries(inputs));
  const catalog = options.catalog ?? null;
  const problems = checkFileInputs(workflow, {
    jobInputs: uploads,
    catalog,
    allowlist: new Set(options.fileNodeAllowlist ?? []),
    checkModelLists: false,
  });
  if (problems.length > 0) throw new WorkflowRewriteError(problems);
  const rewritten = structuredClone(workflow);
  for (const node of Object.values(rewritten)) {
    if (Object.hasOwn(node.inputs, 'filename_prefix')) {
      node.inputs.filename_prefix = `arrakis/${jobId}/${sanitizePrefix(node.inputs.filename_prefix)}`;
    }
    for (const [input, value] of Object.entries(node.inputs)) {
      // checkFileInputs has made sure every job_input names an upload.
      if (fileInputRule(node.class_type, input, catalog) === 'job_input')
        node.inputs[input] = uploads.get(String(value));
    }
  }
  return rewritten;
}
