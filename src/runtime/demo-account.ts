/** `arrakis dev`: a demo account and key on a fresh database, so the first request works at once. */
import { mintApiKey } from '../api/auth/api-keys.js';
import { ALL_SCOPES, DEFAULT_LIMITS } from '../jobs/types.js';
import type { Store } from '../store/contract.js';
import { newId } from '../util/ids.js';
import { newWebhookSecret } from '../webhooks/secrets.js';

/** Creates account "demo" with a full-scope key when no account exists; the key is returned only then. */
export async function ensureDemoAccount(store: Store): Promise<{ accountId: string; key: string | null }> {
  const existing = (await store.listAccounts()).find((a) => a.name === 'demo');
  if (existing !== undefined) return { accountId: existing.id, key: null };
  const now = Date.now();
  const account = await store.createAccount(
    {
      name: 'demo',
      limits: DEFAULT_LIMITS,
      jwt: null,
      nodeAllowlist: null,
      allowedPools: null,
      webhookSecret: newWebhookSecret(),
    },
    now,
  );
  const id = newId('key');
  const { key, hash } = mintApiKey(id);
  await store.createApiKey(
    { id, accountId: account.id, name: 'demo key', hash, scopes: [...ALL_SCOPES] },
    now,
  );
  return { accountId: account.id, key };
}

/** A new full-scope key for the demo account (`arrakis dev --new-key`): the first one is shown only once. */
export async function newDemoKey(store: Store, accountId: string): Promise<string> {
  const id = newId('key');
  const { key, hash } = mintApiKey(id);
  await store.createApiKey(
    { id, accountId, name: 'demo key (dev --new-key)', hash, scopes: [...ALL_SCOPES] },
    Date.now(),
  );
  return key;
}
