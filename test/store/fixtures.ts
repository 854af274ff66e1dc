/** Small builders shared by the store tests. */
import { DEFAULT_LIMITS, type Account, type AccountLimits } from '../../src/jobs/types.js';
import type { NewJob, Store, WorkerModelState } from '../../src/store/contract.js';

/** An account with DEFAULT_LIMITS overridden by `limits`. */
export async function makeAccount(
  store: Store,
  limits: Partial<AccountLimits> = {},
  now = 1_000,
): Promise<Account> {
  return await store.createAccount(
    {
      name: 'acme',
      limits: { ...DEFAULT_LIMITS, ...limits },
      jwt: null,
      nodeAllowlist: null,
      allowedPools: null,
      webhookSecret: 'whsec_test',
    },
    now,
  );
}

/** A minimal admissible job for `userId` of `accountId`. */
export function jobInput(accountId: string, userId: string, extra: Partial<NewJob> = {}): NewJob {
  return {
    accountId,
    userId,
    priority: 0,
    pool: 'default',
    workflow: { '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8 } } },
    templateName: null,
    inputs: [],
    inputsReady: true,
    webhookUrl: null,
    metadata: {},
    idempotencyKey: null,
    requestHash: null,
    ...extra,
  };
}

/** Counts admitted results. */
export function countKind(results: ReadonlyArray<{ kind: string }>, kind: string): number {
  return results.filter((r) => r.kind === kind).length;
}

/** A worker's models as its agent reports them (what `setWorkerModels` takes). */
export type ReportedModels = Omit<WorkerModelState, 'known' | 'prefetch'>;

/** An idle in-process worker `id` in pool default that reported `models` (null: never reported). */
export async function registerWorker(store: Store, id: string, models: ReportedModels | null): Promise<void> {
  await store.upsertWorker({
    id,
    name: id,
    pool: 'default',
    kind: 'inprocess',
    comfyUrl: null,
    status: 'idle',
    providerRef: null,
    startedAt: 1,
    readyAt: 1,
    stoppedAt: null,
    lastSeenAt: 1,
  });
  if (models !== null) await store.setWorkerModels(id, models, 1);
}
