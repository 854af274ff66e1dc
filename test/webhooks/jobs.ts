/** Creates webhook deliveries the way production does: a job admitted with a webhook URL reaches a terminal state. */
import type { Account } from '../../src/jobs/types.js';
import { DEFAULT_LIMITS } from '../../src/jobs/types.js';
import type { Store } from '../../src/store/contract.js';
import { newWebhookSecret } from '../../src/webhooks/secrets.js';

/** A fresh account with its own webhook secret. */
export async function createAccount(store: Store, name = 'acme'): Promise<Account> {
  return await store.createAccount(
    {
      name,
      limits: { ...DEFAULT_LIMITS, max_active_jobs_per_user: 10_000, max_active_jobs: 10_000 },
      jwt: null,
      nodeAllowlist: null,
      allowedPools: null,
      webhookSecret: newWebhookSecret(),
    },
    Date.now(),
  );
}

/** Admits, claims and completes one job with `webhookUrl`; the store enqueues its `job.completed` delivery. */
export async function completeJobWithWebhook(
  store: Store,
  account: Account,
  webhookUrl: string,
): Promise<string> {
  const now = Date.now();
  const admitted = await store.admitJob(
    {
      accountId: account.id,
      userId: 'user-1',
      priority: 0,
      pool: 'default',
      workflow: { '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8 } } },
      templateName: null,
      inputs: [],
      inputsReady: true,
      webhookUrl,
      metadata: { order: 42 },
      idempotencyKey: null,
      requestHash: null,
    },
    now,
  );
  if (admitted.kind !== 'admitted') throw new Error(`admission failed: ${admitted.kind}`);
  const claimed = await store.claimNext('worker-1', 'default', 60_000, now);
  if (claimed === null) throw new Error('nothing to claim');
  const finished = await store.completeJob(claimed.id, 'worker-1', [], now);
  if (finished.kind !== 'finished') throw new Error('completeJob lost the job');
  return claimed.id;
}
