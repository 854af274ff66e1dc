/**
 * The API's wire shapes, one zod schema each: the server validates requests and documents responses with
 * these objects, and `arrakis/client` infers its types from them. Browser-safe: nothing here imports more
 * than zod and the error-code tables.
 */
import type { z } from 'zod';
import * as admin from './admin.js';
import * as events from './events.js';
import * as job from './job.js';
import * as problem from './problem.js';
import * as templates from './templates.js';

export * from './admin.js';
export * from './events.js';
export * from './job.js';
export * from './problem.js';
export * from './templates.js';

/** Named OpenAPI components (`#/components/schemas/<name>`), by schema object. */
export const WIRE_COMPONENTS: Readonly<Record<string, z.ZodType>> = {
  Job: job.jobSchema,
  JobStatus: job.jobStatusSchema,
  JobOutput: job.outputSchema,
  JobProgress: job.progressSchema,
  JobError: job.jobErrorSchema,
  JobList: job.jobListSchema,
  JobInputFile: job.inputSchema,
  CreateJobRequest: job.createJobBody,
  Usage: job.usageSchema,
  Problem: problem.problemSchema,
  ErrorCode: problem.errorCodeSchema,
  StatusEvent: events.statusEventSchema,
  ProgressEvent: events.progressEventSchema,
  OutputEvent: events.outputEventSchema,
  DoneEvent: events.doneEventSchema,
  WebhookEvent: events.webhookEventSchema,
  AccountLimits: admin.limitsSchema,
  JwtConfig: admin.jwtConfigSchema,
  CreateAccountRequest: admin.createAccountBody,
  PatchAccountRequest: admin.patchAccountBody,
  Account: admin.accountSchema,
  CreatedAccount: admin.createdAccountSchema,
  AccountList: admin.accountListSchema,
  CreateKeyRequest: admin.createKeyBody,
  CreatedKey: admin.createdKeySchema,
  ApiKey: admin.apiKeySchema,
  ApiKeyList: admin.apiKeyListSchema,
  TemplateParam: admin.templateParamSchema,
  TemplateRequest: admin.templateBody,
  Template: admin.templateSchema,
  TemplateList: admin.templateListSchema,
  AvailableTemplate: templates.availableTemplateSchema,
  AvailableTemplateList: templates.availableTemplateListSchema,
  CreateWorkerTokenRequest: admin.createWorkerTokenBody,
  CreatedWorkerToken: admin.createdWorkerTokenSchema,
  Worker: admin.workerSchema,
  WorkerList: admin.workerListSchema,
  AccountUsage: admin.accountUsageSchema,
  RotatedWebhookSecret: admin.rotatedSecretSchema,
};
