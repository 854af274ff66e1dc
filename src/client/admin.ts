/** `new ArrakisAdmin({ baseUrl, adminKey })`: the operator API under /v1/admin. */
import { z } from 'zod';
import {
  accountListSchema,
  accountSchema,
  accountUsageSchema,
  apiKeyListSchema,
  createdAccountSchema,
  createdKeySchema,
  createdWorkerTokenSchema,
  rotatedSecretSchema,
  templateListSchema,
  templateSchema,
  workerListSchema,
  workerTokenListSchema,
  type Account,
  type AccountUsage,
  type ApiKey,
  type CreateAccountBody,
  type CreateKeyBody,
  type CreatedAccount,
  type CreatedKey,
  type CreatedWorkerToken,
  type CreateWorkerTokenBody,
  type PatchAccountBody,
  type Template,
  type TemplateBody,
  type Worker,
  type WorkerTokenInfo,
} from '../api/wire/admin.js';
import { Transport, type FetchLike } from './transport.js';

export interface ArrakisAdminOptions {
  baseUrl: string;
  adminKey: string;
  fetch?: FetchLike | undefined;
}

const id = (value: string): string => encodeURIComponent(value);

export class ArrakisAdmin {
  private readonly t: Transport;

  constructor(options: ArrakisAdminOptions) {
    this.t = new Transport({
      baseUrl: options.baseUrl,
      headers: { authorization: `Bearer ${options.adminKey}` },
      fetch: options.fetch,
    });
  }

  readonly accounts = {
    /** Creates an account; the answer holds its webhook secret, shown only here. */
    create: async (body: CreateAccountBody): Promise<CreatedAccount> =>
      (await this.t.json('POST', '/v1/admin/accounts', createdAccountSchema, { body })).data,
    list: async (): Promise<Account[]> =>
      (await this.t.json('GET', '/v1/admin/accounts', accountListSchema)).data.data,
    get: async (accountId: string): Promise<Account> =>
      (await this.t.json('GET', `/v1/admin/accounts/${id(accountId)}`, accountSchema)).data,
    update: async (accountId: string, body: PatchAccountBody): Promise<Account> =>
      (await this.t.json('PATCH', `/v1/admin/accounts/${id(accountId)}`, accountSchema, { body })).data,
    /** A new webhook secret; the old one keeps signing too for `overlapSeconds` (default one day). */
    rotateWebhookSecret: async (accountId: string, overlapSeconds?: number) =>
      (
        await this.t.json('POST', `/v1/admin/accounts/${id(accountId)}/webhook-secret`, rotatedSecretSchema, {
          body: overlapSeconds === undefined ? {} : { overlap_s: overlapSeconds },
        })
      ).data,
    /** Finished jobs, run seconds and attributed cost per pool since `since` (default: today, UTC). */
    usage: async (accountId: string, since?: Date): Promise<AccountUsage> => {
      const qs = since === undefined ? '' : `?since=${encodeURIComponent(since.toISOString())}`;
      return (await this.t.json('GET', `/v1/admin/accounts/${id(accountId)}/usage${qs}`, accountUsageSchema))
        .data;
    },
  };

  readonly keys = {
    /** Mints an API key for the account; the key is shown only here. */
    create: async (accountId: string, body: CreateKeyBody): Promise<CreatedKey> =>
      (await this.t.json('POST', `/v1/admin/accounts/${id(accountId)}/keys`, createdKeySchema, { body }))
        .data,
    list: async (accountId: string): Promise<ApiKey[]> =>
      (await this.t.json('GET', `/v1/admin/accounts/${id(accountId)}/keys`, apiKeyListSchema)).data.data,
    revoke: async (keyId: string): Promise<void> =>
      await this.t.empty('DELETE', `/v1/admin/keys/${id(keyId)}`),
  };

  readonly templates = {
    /** Creates or replaces the template named `body.name`. */
    put: async (body: TemplateBody): Promise<Template> =>
      (await this.t.json('PUT', `/v1/admin/templates/${id(body.name)}`, templateSchema, { body })).data,
    list: async (): Promise<Template[]> =>
      (await this.t.json('GET', '/v1/admin/templates', templateListSchema)).data.data,
    delete: async (name: string): Promise<void> =>
      await this.t.empty('DELETE', `/v1/admin/templates/${id(name)}`),
  };

  readonly workerTokens = {
    /** Issues a token for `arrakis agent --token`; shown only here. */
    create: async (body: CreateWorkerTokenBody): Promise<CreatedWorkerToken> =>
      (await this.t.json('POST', '/v1/admin/worker-tokens', createdWorkerTokenSchema, { body })).data,
    /** Every token (revoked ones too), without secrets. */
    list: async (): Promise<WorkerTokenInfo[]> =>
      (await this.t.json('GET', '/v1/admin/worker-tokens', workerTokenListSchema)).data.data,
    revoke: async (tokenId: string): Promise<void> =>
      await this.t.empty('DELETE', `/v1/admin/worker-tokens/${id(tokenId)}`),
  };

  readonly workers = {
    list: async (): Promise<Worker[]> =>
      (await this.t.json('GET', '/v1/admin/workers', workerListSchema)).data.data,
  };

  /** Recounts the active-job counters from the jobs table; returns the repairs made. */
  async reconcile(): Promise<unknown[]> {
    return (await this.t.json('POST', '/v1/admin/reconcile', z.object({ repairs: z.array(z.unknown()) })))
      .data.repairs;
  }
}
