/** Small builders shared by the store tests. */
import { DEFAULT_LIMITS, type Account, type AccountLimits } from '../../src/jobs/types.js';
import type { NewJob, Store } from '../../src/store/contract.js';

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
    pool: null,
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
