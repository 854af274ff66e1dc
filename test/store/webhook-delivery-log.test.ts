/** Store.listWebhookDeliveryLog: the operator's delivery log, every delivery with its attempts, in two queries. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WebhookAttempt } from '../../src/store/contract.js';
import { BACKENDS, type TestDb } from './backends.js';
import { jobInput, makeAccount } from './fixtures.js';

describe.each(BACKENDS)('webhook delivery log on $name', (backend) => {
  let db: TestDb;
  beforeEach(async () => {
    db = await backend.create();
  });
  afterEach(async () => {
    await db.cleanup();
  });

  /** Admits and completes a job with a webhook; returns the job id. */
  async function finishedJob(accountId: string, at: number): Promise<string> {
    const admitted = await db.store.admitJob(
      jobInput(accountId, 'u1', { webhookUrl: 'https://example.com/h' }),
      at,
    );
    if (admitted.kind !== 'admitted') throw new Error('not admitted');
    await db.store.claimNext('w1', 'default', 60_000, at + 1);
    await db.store.completeJob(admitted.job.id, 'w1', [], at + 2);
    return admitted.job.id;
  }

  it('lists deliveries newest first, each with its own attempts in order, filtered like listWebhookDeliveries', async () => {
    const account = await makeAccount(db.store);
    const other = await makeAccount(db.store);
    const first = await finishedJob(account.id, 1_000);
    const second = await finishedJob(account.id, 2_000);
    await finishedJob(other.id, 3_000);
    const [d2, d1] = await db.store.listWebhookDeliveries({ accountId: account.id, limit: 10 });
    const attempt = (deliveryId: string, n: number): WebhookAttempt => ({
      deliveryId,
      attempt: n,
      at: 5_000 + n,
      statusCode: 500,
      error: null,
      durationMs: 7,
    });
    // Recorded out of order across deliveries: the log still groups and orders them.
    await db.store.recordWebhookAttempt(attempt(d1!.id, 1), { status: 'pending', nextAttemptAt: 9_000 });
    await db.store.recordWebhookAttempt(attempt(d2!.id, 1), { status: 'pending', nextAttemptAt: 9_000 });
    await db.store.recordWebhookAttempt(attempt(d1!.id, 2), { status: 'failed' });

    const log = await db.store.listWebhookDeliveryLog({ accountId: account.id, limit: 10 });
    expect(log.map((d) => d.jobId)).toEqual([second, first]);
    expect(log[0]?.attemptLog).toEqual([attempt(d2!.id, 1)]);
    expect(log[1]?.attemptLog).toEqual([attempt(d1!.id, 1), attempt(d1!.id, 2)]);
    expect(log[1]).toMatchObject({ id: d1!.id, status: 'failed', attempts: 2 });

    const one = await db.store.listWebhookDeliveryLog({ jobId: first, limit: 10 });
    expect(one.map((d) => d.id)).toEqual([d1!.id]);
    expect(await db.store.listWebhookDeliveryLog({ accountId: account.id, limit: 1 })).toHaveLength(1);
    expect(await db.store.listWebhookDeliveryLog({ accountId: 'acct_none', limit: 10 })).toEqual([]);
  });
});
