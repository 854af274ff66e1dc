/** The ComfyUI protocol client and the workflow checks run before a workflow reaches a server. */
export * from './contract.js';
export { createComfyServer, type ComfyClientOptions, type ComfyHttpServer } from './http-client.js';
export {
  checkFileInputs,
  fileInputCatalog,
  fileInputRule,
  KNOWN_FILE_INPUTS,
  mergeCatalogs,
  modelNameProblem,
  type FileInputCatalog,
  type FileInputRule,
} from './file-inputs.js';
export {
  checkAllowlist,
  checkNodeTypes,
  checkWorkflow,
  DEFAULT_WORKFLOW_LIMITS,
  nodesOnCycles,
  parseWorkflow,
  workflowSizeProblem,
  type WorkflowLimits,
  type NodeTypeProblem,
  type WorkflowProblem,
} from './workflow-check.js';
export { rewriteWorkflowForJob, sanitizePrefix, WorkflowRewriteError } from './workflow-rewrite.js';
export { collectOutputFiles } from './history-outcome.js';
