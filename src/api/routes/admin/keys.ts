/** An account's API keys: mint (the secret is shown once), list (no secrets) and revoke. */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { ApiError } from '../../../errors.js';
import { ALL_SCOPES } from '../../../jobs/types.js';
import { newId } from '../../../util/ids.js';
import { mintApiKey } from '../../auth/api-keys.js';
import type { ApiContext } from '../../context.js';
import { apiKeyListSchema, createdKeySchema, createKeyBody } from '../../schemas.js';
import { adminDoc, adminErrors, idParams, isoOrNull, noContent } from './shared.js';

/** Registers the API key routes. */
export async function keyRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.post(
    '/v1/admin/accounts/:id/keys',
    {
      schema: {
        ...adminDoc,
        params: idParams,
        body: createKeyBody,
        response: { 201: createdKeySchema, ...adminErrors },
      },
    },
    async (request, reply) => {
      const account = await ctx.store.getAccount(request.params.id);
      if (account === null) throw new ApiError('not_found', 'No account with this id.');
      const keyId = newId('key');
      const { key, hash } = mintApiKey(keyId);
      const record = await ctx.store.createApiKey(
        {
          id: keyId,
          accountId: account.id,
          name: request.body.name,
          hash,
          scopes: request.body.scopes ?? [...ALL_SCOPES],
        },
        ctx.now(),
      );
      return reply.code(201).send({ id: record.id, key, name: record.name, scopes: record.scopes });
    },
  );

  r.get(
    '/v1/admin/accounts/:id/keys',
    { schema: { ...adminDoc, params: idParams, response: { 200: apiKeyListSchema, ...adminErrors } } },
    async (request) => ({
      data: (await ctx.store.listApiKeys(request.params.id)).map((k) => ({
        id: k.id,
        name: k.name,
        scopes: k.scopes,
        created_at: new Date(k.createdAt).toISOString(),
        last_used_at: isoOrNull(k.lastUsedAt),
        revoked_at: isoOrNull(k.revokedAt),
      })),
    }),
  );

  r.delete(
    '/v1/admin/keys/:id',
    { schema: { ...adminDoc, params: idParams, response: { 204: noContent, ...adminErrors } } },
    async (request, reply) => {
      const revoked = await ctx.store.revokeApiKey(request.params.id, ctx.now());
      if (!revoked) throw new ApiError('not_found', 'No active key with this id.');
      ctx.auth.invalidateKey(request.params.id);
      return reply.code(204).send(null);
    },
  );
}
