/** Standard Webhooks signing and the durable delivery queue. */
export { WebhookDeliverer } from './deliverer.js';
export type { AttemptEvent, WebhookDelivererOptions, WebhookLog, WebhookStore } from './deliverer.js';
export type { WebhookFetch, WebhookRequest, WebhookResponse } from './attempt.js';
export {
  DEFAULT_WEBHOOK_RETRY,
  nextRetryDelay,
  parseRetryAfter,
  parseRetrySchedule,
  retryScheduleSchema,
} from './retry-schedule.js';
export type { RetrySchedule } from './retry-schedule.js';
export { safeWebhookFetch } from './safe-webhook-fetch.js';
export { newWebhookSecret } from './secrets.js';
export { signWebhook, signingSecrets } from './sign.js';
export type { WebhookHeaders } from './sign.js';
