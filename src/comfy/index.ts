/** The ComfyUI protocol client and the workflow checks run before a workflow reaches a server. */
export * from './contract.js';
export { createComfyServer, type ComfyClientOptions, type ComfyHttpServer } from './http-client.js';
export {
  checkAllowlist,
  checkNodeTypes,
  checkWorkflow,
  parseWorkflow,
  type NodeTypeProblem,
  type WorkflowProblem,
} from './workflow-check.js';
export {
  INPUT_LOADER_CLASSES,
  rewriteWorkflowForJob,
  sanitizePrefix,
  WorkflowRewriteError,
} from './workflow-rewrite.js';
export { collectOutputFiles } from './history-outcome.js';
