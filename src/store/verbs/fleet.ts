/** Workers, worker tokens and the autoscaler's decisions. */
import type { ScalingDecision, WorkerRecord, WorkerStatus, WorkerToken } from '../contract.js';
import { runOne, type StoreContext } from '../context.js';
import { toScalingDecision, toWorker, toWorkerToken } from '../rows.js';
import type { Insertable } from 'kysely';
import type { WorkersTable } from '../schema.js';

function workerColumns(w: WorkerRecord): Insertable<WorkersTable> {
  return {
    id: w.id,
    name: w.name,
    pool: w.pool,
    kind: w.kind,
    comfy_url: w.comfyUrl,
    status: w.status,
    provider_ref: w.providerRef,
    started_at: w.startedAt,
    ready_at: w.readyAt,
    stopped_at: w.stoppedAt,
    last_seen_at: w.lastSeenAt,
  };
}

/** Store.upsertWorker. */
export async function upsertWorker(ctx: StoreContext, w: WorkerRecord): Promise<void> {
  const columns = workerColumns(w);
  await ctx.db
    .insertInto('workers')
    .values(columns)
    .onConflict((oc) =>
      oc.column('id').doUpdateSet({
        name: columns.name,
        pool: columns.pool,
        kind: columns.kind,
        comfy_url: columns.comfy_url,
        status: columns.status,
        provider_ref: columns.provider_ref,
        started_at: columns.started_at,
        ready_at: columns.ready_at,
        stopped_at: columns.stopped_at,
        last_seen_at: columns.last_seen_at,
      }),
    )
    .execute();
}

/** Store.setWorkerStatus: also stamps last_seen_at, ready_at on first ready, stopped_at on stop. */
export async function setWorkerStatus(
  ctx: StoreContext,
  id: string,
  status: WorkerStatus,
  now: number,
): Promise<void> {
  // Twice per job (busy, idle): one prepared statement, synchronous where the dialect allows.
  const ready = status === 'idle' || status === 'busy' ? 1 : 0;
  const stopped = status === 'stopped' ? 1 : 0;
  await runOne(ctx, ctx.sql.workerStatus, [status, now, ready, now, stopped, now, id]);
}

/** Store.getWorker. */
export async function getWorker(ctx: StoreContext, id: string): Promise<WorkerRecord | null> {
  const row = await ctx.db.selectFrom('workers').selectAll().where('id', '=', id).executeTakeFirst();
  return row === undefined ? null : toWorker(row);
}

/** Store.listWorkers: stopped workers only when asked for. */
export async function listWorkers(
  ctx: StoreContext,
  filter: { pool?: string; includeStopped?: boolean } = {},
): Promise<WorkerRecord[]> {
  let q = ctx.db.selectFrom('workers').selectAll();
  if (filter.pool !== undefined) q = q.where('pool', '=', filter.pool);
  if (filter.includeStopped !== true) q = q.where('status', '!=', 'stopped');
  return (await q.orderBy('started_at').orderBy('id').execute()).map(toWorker);
}

/** Store.createWorkerToken. */
export async function createWorkerToken(
  ctx: StoreContext,
  t: Omit<WorkerToken, 'createdAt' | 'revokedAt'>,
  now: number,
): Promise<WorkerToken> {
  await ctx.db
    .insertInto('worker_tokens')
    .values({ id: t.id, name: t.name, pool: t.pool, hash: t.hash, created_at: now, revoked_at: null })
    .execute();
  return { ...t, createdAt: now, revokedAt: null };
}

/** Store.getWorkerToken. */
export async function getWorkerToken(ctx: StoreContext, id: string): Promise<WorkerToken | null> {
  const row = await ctx.db.selectFrom('worker_tokens').selectAll().where('id', '=', id).executeTakeFirst();
  return row === undefined ? null : toWorkerToken(row);
}

/** Store.listWorkerTokens: all tokens, oldest first. */
export async function listWorkerTokens(ctx: StoreContext): Promise<WorkerToken[]> {
  const rows = await ctx.db
    .selectFrom('worker_tokens')
    .selectAll()
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  return rows.map(toWorkerToken);
}

/** Store.revokeWorkerToken: false when missing or already revoked. */
export async function revokeWorkerToken(ctx: StoreContext, id: string, now: number): Promise<boolean> {
  const result = await ctx.db
    .updateTable('worker_tokens')
    .set({ revoked_at: now })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Store.recordScalingDecision. */
export async function recordScalingDecision(ctx: StoreContext, d: ScalingDecision): Promise<void> {
  await ctx.db
    .insertInto('scaling_decisions')
    .values({ pool: d.pool, at: d.at, current_count: d.current, target_count: d.target, reason: d.reason })
    .execute();
}

/** Store.listScalingDecisions: newest first, one pool or all. */
export async function listScalingDecisions(
  ctx: StoreContext,
  pool: string | null,
  limit: number,
): Promise<ScalingDecision[]> {
  let q = ctx.db.selectFrom('scaling_decisions').selectAll();
  if (pool !== null) q = q.where('pool', '=', pool);
  return (await q.orderBy('at', 'desc').limit(limit).execute()).map(toScalingDecision);
}
