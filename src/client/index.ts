/**
 * `arrakis/client`: a typed client for the Arrakis job API, on fetch only (Node ≥ 20, browsers, Deno, Bun).
 * Its types are inferred from the zod schemas the server validates and documents with.
 */
export { ArrakisClient, type ArrakisClientOptions, type ApiKeyAuth, type TokenAuth } from './client.js';
export { ArrakisAdmin, type ArrakisAdminOptions } from './admin.js';
export { ArrakisError, type ClientErrorCode } from './errors.js';
export {
  verifyWebhook,
  WebhookVerificationError,
  type VerifyWebhookOptions,
  type WebhookHeadersInput,
} from './webhooks.js';
export type {
  CreateJobOptions,
  CreateJobRequest,
  JobInputFile,
  ListJobsOptions,
  WaitOptions,
} from './jobs.js';
export type { StreamOptions, StreamedJobEvent } from './event-stream.js';
export type { FetchLike } from './transport.js';
export type {
  Job,
  JobError,
  JobErrorDetail,
  JobList,
  JobOutput,
  JobProgress,
  JobStatus,
  Usage,
} from '../api/wire/job.js';
export type { AvailableTemplate, AvailableTemplateList } from '../api/wire/templates.js';
export type { JobEvent, JobEventName, WebhookEvent } from '../api/wire/events.js';
export type { Problem } from '../api/wire/problem.js';
export type {
  Account,
  AccountLimits,
  AccountUsage,
  ApiKey,
  CreatedAccount,
  CreatedKey,
  CreatedWorkerToken,
  Template,
  TemplateParam,
  Worker,
  WorkerTokenInfo,
} from '../api/wire/admin.js';
export type { ApiErrorCode, JobErrorCode } from '../errors.js';
