/** /v1/admin/accounts: create, list, read and change accounts (limits, JWT, node and pool allow-lists). */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { ApiError } from '../../../errors.js';
import { DEFAULT_LIMITS, type Account } from '../../../jobs/types.js';
import { newWebhookSecret } from '../../../webhooks/secrets.js';
import type { ApiContext } from '../../context.js';
import {
  accountListSchema,
  accountSchema,
  createAccountBody,
  createdAccountSchema,
  patchAccountBody,
  type Account as WireAccount,
} from '../../schemas.js';
import { adminDoc, adminErrors, idParams } from './shared.js';

/** The wire form of an account: the JWT secret is never shown, only that there is one. */
export function accountJson(a: Account): WireAccount {
  return {
    id: a.id,
    name: a.name,
    limits: a.limits,
    jwt:
      a.jwt === null
        ? null
        : { ...a.jwt, secret: a.jwt.secret === undefined ? undefined : ('(set)' as const) },
    node_allowlist: a.nodeAllowlist,
    file_node_allowlist: a.fileNodeAllowlist,
    allowed_pools: a.allowedPools,
    created_at: new Date(a.createdAt).toISOString(),
  };
}

/** Registers the account routes. */
export async function accountRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.post(
    '/v1/admin/accounts',
    {
      schema: {
        ...adminDoc,
        body: createAccountBody,
        response: { 201: createdAccountSchema, ...adminErrors },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const secret = newWebhookSecret();
      const account = await ctx.store.createAccount(
        {
          name: b.name,
          limits: { ...DEFAULT_LIMITS, ...b.limits },
          jwt: b.jwt ?? null,
          nodeAllowlist: b.node_allowlist ?? null,
          fileNodeAllowlist: b.file_node_allowlist ?? [],
          allowedPools: b.allowed_pools ?? null,
          webhookSecret: secret,
        },
        ctx.now(),
      );
      ctx.auth.invalidateAccount(account.id);
      return reply.code(201).send({ ...accountJson(account), webhook_secret: secret });
    },
  );

  r.get(
    '/v1/admin/accounts',
    { schema: { ...adminDoc, response: { 200: accountListSchema, ...adminErrors } } },
    async () => ({
      data: (await ctx.store.listAccounts()).map(accountJson),
    }),
  );

  r.get(
    '/v1/admin/accounts/:id',
    { schema: { ...adminDoc, params: idParams, response: { 200: accountSchema, ...adminErrors } } },
    async (request) => {
      const account = await ctx.store.getAccount(request.params.id);
      if (account === null) throw new ApiError('not_found', 'No account with this id.');
      return accountJson(account);
    },
  );

  r.patch(
    '/v1/admin/accounts/:id',
    {
      schema: {
        ...adminDoc,
        params: idParams,
        body: patchAccountBody,
        response: { 200: accountSchema, ...adminErrors },
      },
    },
    async (request) => {
      const current = await ctx.store.getAccount(request.params.id);
      if (current === null) throw new ApiError('not_found', 'No account with this id.');
      const b = request.body;
      const updated = await ctx.store.updateAccount(current.id, {
        ...(b.name === undefined ? {} : { name: b.name }),
        ...(b.limits === undefined ? {} : { limits: { ...current.limits, ...b.limits } }),
        ...(b.jwt === undefined ? {} : { jwt: b.jwt }),
        ...(b.node_allowlist === undefined ? {} : { nodeAllowlist: b.node_allowlist }),
        ...(b.file_node_allowlist === undefined ? {} : { fileNodeAllowlist: b.file_node_allowlist }),
        ...(b.allowed_pools === undefined ? {} : { allowedPools: b.allowed_pools }),
      });
      if (updated === null) throw new ApiError('not_found', 'No account with this id.');
      ctx.auth.invalidateAccount(updated.id);
      return accountJson(updated);
    },
  );
}
