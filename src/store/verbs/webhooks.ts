/** The durable webhook queue: deliveries (enqueued by terminal transitions), attempts, disabled endpoints. */
import type { WebhookAttempt, WebhookDelivery, WebhookDeliveryLog } from '../contract.js';
import { inTx, type StoreContext } from '../context.js';
import { toWebhookAttempt, toWebhookDelivery } from '../rows.js';
import { leaseBatch } from './lease-batch.js';
import type { WebhookDeliveriesTable } from '../schema.js';

/** Store.claimDueWebhooks: leases due pending deliveries (SKIP LOCKED on Postgres), oldest due first. */
export async function claimDueWebhooks(
  ctx: StoreContext,
  owner: string,
  limit: number,
  leaseMs: number,
  now: number,
): Promise<WebhookDelivery[]> {
  return await inTx(ctx, async (tx) => {
    const pick = tx
      .selectFrom('webhook_deliveries')
      .select('id')
      .where('status', '=', 'pending')
      .where('next_attempt_at', '<=', now)
      .where((eb) => eb.or([eb('lease_expires_at', 'is', null), eb('lease_expires_at', '<', now)]))
      .orderBy('next_attempt_at')
      .orderBy('id')
      .limit(limit);
    const rows = await leaseBatch(ctx, pick, (ids) =>
      tx
        .updateTable('webhook_deliveries')
        .set({ lease_owner: owner, lease_expires_at: now + leaseMs })
        .where('id', 'in', ids)
        .returningAll()
        .execute(),
    );
    return rows
      .map(toWebhookDelivery)
      .sort((a, b) => a.nextAttemptAt - b.nextAttemptAt || (a.id < b.id ? -1 : 1));
  });
}

/** Store.recordWebhookAttempt: the attempt row and the delivery's new state in one transaction. */
export async function recordWebhookAttempt(
  ctx: StoreContext,
  attempt: WebhookAttempt,
  next: { status: 'pending'; nextAttemptAt: number } | { status: 'delivered' | 'failed' | 'disabled' },
): Promise<void> {
  const lastError =
    attempt.error ??
    (attempt.statusCode !== null && attempt.statusCode >= 300 ? `HTTP ${attempt.statusCode}` : null);
  const set: Partial<WebhookDeliveriesTable> = {
    status: next.status,
    attempts: attempt.attempt,
    last_error: lastError,
    lease_owner: null,
    lease_expires_at: null,
  };
  if (next.status === 'pending') set.next_attempt_at = next.nextAttemptAt;
  if (next.status === 'delivered') set.delivered_at = attempt.at;
  await inTx(ctx, async (tx) => {
    await tx
      .insertInto('webhook_attempts')
      .values({
        delivery_id: attempt.deliveryId,
        attempt: attempt.attempt,
        at: attempt.at,
        status_code: attempt.statusCode,
        error: attempt.error,
        duration_ms: attempt.durationMs,
      })
      .execute();
    await tx.updateTable('webhook_deliveries').set(set).where('id', '=', attempt.deliveryId).execute();
  });
}

/** Store.disableWebhookEndpoint: later terminal transitions see the row and enqueue nothing for this URL. */
export async function disableWebhookEndpoint(
  ctx: StoreContext,
  accountId: string,
  url: string,
  now: number,
): Promise<void> {
  await inTx(ctx, async (tx) => {
    await tx
      .insertInto('webhook_disabled_endpoints')
      .values({ account_id: accountId, url, disabled_at: now })
      .onConflict((oc) => oc.columns(['account_id', 'url']).doNothing())
      .execute();
    await tx
      .updateTable('webhook_deliveries')
      .set({ status: 'disabled', lease_owner: null, lease_expires_at: null })
      .where('account_id', '=', accountId)
      .where('url', '=', url)
      .where('status', '=', 'pending')
      .execute();
  });
}

/** Store.isWebhookEndpointDisabled. */
export async function isWebhookEndpointDisabled(
  ctx: StoreContext,
  accountId: string,
  url: string,
): Promise<boolean> {
  const row = await ctx.db
    .selectFrom('webhook_disabled_endpoints')
    .select('url')
    .where('account_id', '=', accountId)
    .where('url', '=', url)
    .executeTakeFirst();
  return row !== undefined;
}

/** Store.listWebhookDeliveries: newest first. */
export async function listWebhookDeliveries(
  ctx: StoreContext,
  filter: { accountId?: string; jobId?: string; limit: number },
): Promise<WebhookDelivery[]> {
  let q = ctx.db.selectFrom('webhook_deliveries').selectAll();
  if (filter.accountId !== undefined) q = q.where('account_id', '=', filter.accountId);
  if (filter.jobId !== undefined) q = q.where('job_id', '=', filter.jobId);
  const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(filter.limit).execute();
  return rows.map(toWebhookDelivery);
}

/** Store.listWebhookAttempts: in attempt order. */
export async function listWebhookAttempts(ctx: StoreContext, deliveryId: string): Promise<WebhookAttempt[]> {
  const rows = await ctx.db
    .selectFrom('webhook_attempts')
    .selectAll()
    .where('delivery_id', '=', deliveryId)
    .orderBy('attempt')
    .execute();
  return rows.map(toWebhookAttempt);
}

/** Store.listWebhookDeliveryLog: the deliveries, then every attempt of all of them in one query. */
export async function listWebhookDeliveryLog(
  ctx: StoreContext,
  filter: { accountId?: string; jobId?: string; limit: number },
): Promise<WebhookDeliveryLog[]> {
  const deliveries = await listWebhookDeliveries(ctx, filter);
  if (deliveries.length === 0) return [];
  const rows = await ctx.db
    .selectFrom('webhook_attempts')
    .selectAll()
    .where(
      'delivery_id',
      'in',
      deliveries.map((d) => d.id),
    )
    .orderBy('delivery_id')
    .orderBy('attempt')
    .execute();
  const byDelivery = new Map<string, WebhookAttempt[]>();
  for (const attempt of rows.map(toWebhookAttempt)) {
    const list = byDelivery.get(attempt.deliveryId) ?? [];
    list.push(attempt);
    byDelivery.set(attempt.deliveryId, list);
  }
  return deliveries.map((d) => ({ ...d, attemptLog: byDelivery.get(d.id) ?? [] }));
}
