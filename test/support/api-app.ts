/**
 * For tests that build the API app themselves (buildApi on their own store), instead of starting a whole control
 * plane: its dependencies, and a tenant made through its admin API.
 */
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../../src/api/context.js';
import { loadConfig } from '../../src/config/load.js';
import { createLocalBus } from '../../src/events/local-bus.js';
import { NodeTypeRegistry } from '../../src/jobs/node-type-registry.js';
import { openStorage } from '../../src/media/storage/open-storage.js';
import type { Store } from '../../src/store/contract.js';

/** buildApi's dependencies: `store` (whose SQLite file is `dir`/db), file storage in `dir`, a local bus. */
export function apiDeps(
  dir: string,
  store: Store,
  settings: Record<string, unknown>,
  extra: Partial<ApiDeps> = {},
): ApiDeps {
  const config = loadConfig(
    {},
    {},
    { db: `sqlite:${join(dir, 'db')}`, storage: `file:${dir}`, port: 0, logLevel: 'silent', ...settings },
  );
  const unused = (): never => {
    throw new Error('not used by this test');
  };
  return {
    config,
    store,
    storage: openStorage(config.storage),
    bus: createLocalBus(),
    nodeTypes: new NodeTypeRegistry(),
    storeBase64Input: unused,
    storeUploadedInput: unused,
    checkUrl: unused,
    now: () => Date.now(),
    defaultPool: 'default',
    ...extra,
  };
}

/** Creates an account and an API key for it through `app`'s admin API. */
export async function injectTenant(
  app: FastifyInstance,
  admin: Record<string, string>,
): Promise<{ accountId: string; key: string }> {
  const account = await app.inject({
    method: 'POST',
    url: '/v1/admin/accounts',
    headers: admin,
    payload: { name: 'a' },
  });
  const accountId = (account.json() as { id: string }).id;
  const created = await app.inject({
    method: 'POST',
    url: `/v1/admin/accounts/${accountId}/keys`,
    headers: admin,
    payload: { name: 'k' },
  });
  return { accountId, key: (created.json() as { key: string }).key };
}
