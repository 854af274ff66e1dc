/** Admin endpoints for remote agents' worker tokens (`arrakis agent --token`). */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { ApiError } from '../../../errors.js';
import { issueWorkerToken } from '../../../workers/worker-tokens.js';
import type { ApiContext } from '../../context.js';
import { createdWorkerTokenSchema, createWorkerTokenBody, problemSchema } from '../../schemas.js';
import { adminDoc, idParams, noContent } from './shared.js';

/**
 * POST /v1/admin/worker-tokens (shown once), GET (list, no secrets) and DELETE /v1/admin/worker-tokens/{id}.
 * A token issued without a pool serves the server's default pool (stored with the token).
 */
export async function workerTokenRoutes(
  app: FastifyInstance,
  { store, defaultPool }: ApiContext,
): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const schema = adminDoc;
  r.post(
    '/v1/admin/worker-tokens',
    {
      schema: {
        ...schema,
        summary: 'Issue a token for a remote agent (shown only here)',
        body: createWorkerTokenBody,
        response: { 201: createdWorkerTokenSchema, 400: problemSchema, 401: problemSchema },
      },
    },
    async (request, reply) => {
      const pool = request.body.pool ?? defaultPool;
      const issued = await issueWorkerToken(store, request.body.name, pool);
      return reply.code(201).send({ id: issued.id, token: issued.token, pool });
    },
  );
  r.get(
    '/v1/admin/worker-tokens',
    { schema: { ...schema, summary: 'List worker tokens (revoked ones too; never the secrets)' } },
    async () => ({
      data: (await store.listWorkerTokens()).map((t) => ({
        id: t.id,
        name: t.name,
        pool: t.pool,
        created_at: new Date(t.createdAt).toISOString(),
        revoked_at: t.revokedAt === null ? null : new Date(t.revokedAt).toISOString(),
      })),
    }),
  );
  r.delete(
    '/v1/admin/worker-tokens/:id',
    {
      schema: {
        ...schema,
        params: idParams,
        response: { 204: noContent, 401: problemSchema, 404: problemSchema },
      },
    },
    async (request, reply) => {
      if (!(await store.revokeWorkerToken(request.params.id, Date.now()))) {
        throw new ApiError('not_found', 'No active worker token with this id.');
      }
      return reply.code(204).send(null);
    },
  );
}
