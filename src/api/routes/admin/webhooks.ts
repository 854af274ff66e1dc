/** Webhooks for operators: rotate an account's signing secret, and read the delivery log with every attempt. */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ApiError } from '../../../errors.js';
import type { WebhookDeliveryLog } from '../../../store/contract.js';
import { newWebhookSecret } from '../../../webhooks/secrets.js';
import type { ApiContext } from '../../context.js';
import { rotatedSecretSchema } from '../../schemas.js';
import { adminDoc, adminErrors, idParams, isoOrNull } from './shared.js';

function deliveryJson(d: WebhookDeliveryLog): Record<string, unknown> {
  return {
    id: d.id,
    job_id: d.jobId,
    url: d.url,
    event_type: d.eventType,
    status: d.status,
    attempts: d.attempts,
    next_attempt_at: d.status === 'pending' ? new Date(d.nextAttemptAt).toISOString() : null,
    last_error: d.lastError,
    created_at: new Date(d.createdAt).toISOString(),
    delivered_at: isoOrNull(d.deliveredAt),
    attempt_log: d.attemptLog.map((a) => ({
      attempt: a.attempt,
      at: new Date(a.at).toISOString(),
      status_code: a.statusCode,
      error: a.error,
      duration_ms: a.durationMs,
    })),
  };
}

/** Registers the webhook routes. */
export async function webhookRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.post(
    '/v1/admin/accounts/:id/webhook-secret',
    {
      schema: {
        ...adminDoc,
        summary: 'Rotate the webhook secret; the old one keeps signing for overlap_s',
        params: idParams,
        body: z.strictObject({
          overlap_s: z
            .number()
            .int()
            .min(0)
            .max(7 * 86400)
            .default(86400),
        }),
        response: { 200: rotatedSecretSchema, ...adminErrors },
      },
    },
    async (request) => {
      const secret = newWebhookSecret();
      const until = ctx.now() + request.body.overlap_s * 1000;
      const account = await ctx.store.rotateWebhookSecret(request.params.id, secret, until);
      if (account === null) throw new ApiError('not_found', 'No account with this id.');
      return { webhook_secret: secret, previous_valid_until: new Date(until).toISOString() };
    },
  );

  r.get(
    '/v1/admin/webhook-deliveries',
    {
      schema: {
        ...adminDoc,
        querystring: z.strictObject({
          account_id: z.string().optional(),
          job_id: z.string().optional(),
          limit: z.coerce.number().int().min(1).max(500).default(50),
        }),
      },
    },
    async (request) => {
      const q = request.query;
      const log = await ctx.store.listWebhookDeliveryLog({
        ...(q.account_id === undefined ? {} : { accountId: q.account_id }),
        ...(q.job_id === undefined ? {} : { jobId: q.job_id }),
        limit: q.limit,
      });
      return { data: log.map(deliveryJson) };
    },
  );
}
