/** `new ArrakisClient(...)`: the job API for one end user, by account key + user id or by an end-user JWT. */
import { usageSchema, USER_ID_PATTERN, type Usage } from '../api/wire/job.js';
import { availableTemplateListSchema, type AvailableTemplate } from '../api/wire/templates.js';
import { Jobs, Outputs } from './jobs.js';
import { Transport, type FetchLike } from './transport.js';

interface CommonOptions {
  /** The API root, e.g. `https://arrakis.example.com` (no `/v1`). */
  baseUrl: string;
  /** A fetch to use instead of the global one (proxies, tests). */
  fetch?: FetchLike | undefined;
}

/** A trusted backend: the account's API key acting for `userId` (sent as X-User-ID). */
export interface ApiKeyAuth extends CommonOptions {
  apiKey: string;
  userId: string;
}

/** A browser or app: an end-user JWT the account signs (`sub` is the user). */
export interface TokenAuth extends CommonOptions {
  token: string;
}

export type ArrakisClientOptions = ApiKeyAuth | TokenAuth;

function authHeaders(options: ArrakisClientOptions): Record<string, string> {
  if ('token' in options) return { authorization: `Bearer ${options.token}` };
  if (!USER_ID_PATTERN.test(options.userId)) {
    throw new TypeError('userId must be 1–128 letters, digits or . _ : @ -');
  }
  return { authorization: `Bearer ${options.apiKey}`, 'x-user-id': options.userId };
}

export class ArrakisClient {
  readonly jobs: Jobs;
  readonly outputs: Outputs;
  private readonly transport: Transport;

  constructor(options: ArrakisClientOptions) {
    this.transport = new Transport({
      baseUrl: options.baseUrl,
      headers: authHeaders(options),
      fetch: options.fetch,
    });
    this.jobs = new Jobs(this.transport);
    this.outputs = new Outputs(this.transport);
  }

  /** The templates this account may run (its own and the global ones), with their params' JSON Schema. */
  async templates(): Promise<AvailableTemplate[]> {
    return (await this.transport.json('GET', '/v1/templates', availableTemplateListSchema)).data.data;
  }

  /** The acting user's active jobs, limits and usage today (UTC). */
  async usage(): Promise<Usage> {
    return (await this.transport.json('GET', '/v1/usage', usageSchema)).data;
  }
}
