/** Workers' reported models and the model registry (files a worker's model cache may fetch). */
import { sql } from 'kysely';
import type { ModelFile, WorkerModelState } from '../contract.js';
import { inTx, isUniqueViolation, type StoreContext } from '../context.js';
import { toModelFile } from '../rows.js';
import type { ModelRef } from '../../models/model-refs.js';

/** Store.setWorkerModels. */
export async function setWorkerModels(
  ctx: StoreContext,
  id: string,
  state: Omit<WorkerModelState, 'known' | 'prefetch'>,
  now: number,
): Promise<void> {
  await ctx.db
    .updateTable('workers')
    .set({
      models_known: 1,
      models_available: JSON.stringify(state.available),
      models_warm: JSON.stringify(state.warm),
      models_on_disk: JSON.stringify(state.onDisk),
      model_fetch: state.canFetch ? 1 : 0,
      model_switches: state.switches,
      last_seen_at: now,
    })
    .where('id', '=', id)
    .execute();
}

/** Store.setWorkerPrefetch. */
export async function setWorkerPrefetch(
  ctx: StoreContext,
  id: string,
  refs: readonly ModelRef[],
): Promise<void> {
  await ctx.db
    .updateTable('workers')
    .set({ models_prefetch: JSON.stringify(refs) })
    .where('id', '=', id)
    .execute();
}

/**
 * Names (or worker ids) per statement in setPrefetchRefused, listPrefetchRefused and listModelFiles: an agent
 * may report up to 100,000 (worker-protocol.ts), the fleet asks about every name in demand and every worker it
 * knows, far past the bound parameters one statement takes (SQLite 32,766, Postgres 65,535), so a list is
 * written or looked up in slices.
 */
const NAMES_PER_STATEMENT = 300;

function slices<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += NAMES_PER_STATEMENT)
    out.push(items.slice(i, i + NAMES_PER_STATEMENT));
  return out;
}

/** Store.setPrefetchRefused: replaces the worker's list in one transaction (first refusal times kept). */
export async function setPrefetchRefused(
  ctx: StoreContext,
  id: string,
  names: readonly string[],
  now: number,
  expiredBefore: number,
): Promise<void> {
  const wanted = new Set(names);
  await inTx(ctx, async (tx) => {
    await tx.deleteFrom('worker_prefetch_refused').where('refused_at', '<', expiredBefore).execute();
    const held = await tx
      .selectFrom('worker_prefetch_refused')
      .select('name')
      .where('worker_id', '=', id)
      .execute();
    const kept = new Set(held.map((r) => r.name));
    for (const gone of slices(held.map((r) => r.name).filter((name) => !wanted.has(name)))) {
      await tx
        .deleteFrom('worker_prefetch_refused')
        .where('worker_id', '=', id)
        .where('name', 'in', gone)
        .execute();
    }
    for (const added of slices([...wanted].filter((name) => !kept.has(name)))) {
      await tx
        .insertInto('worker_prefetch_refused')
        .values(added.map((name) => ({ worker_id: id, name, refused_at: now })))
        .onConflict((oc) => oc.columns(['worker_id', 'name']).doNothing())
        .execute();
    }
  });
}

/**
 * Store.listPrefetchRefused: one statement per slice of distinct ids (a worker's rows all come from one), each
 * worker's names in UTF-8 byte order on both backends (as listModelFiles), never by the database's collation.
 */
export async function listPrefetchRefused(
  ctx: StoreContext,
  ids: readonly string[],
  since: number,
): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const slice of slices([...new Set(ids)])) {
    const rows = await ctx.db
      .selectFrom('worker_prefetch_refused')
      .select(['worker_id', 'name'])
      .where('worker_id', 'in', slice)
      .where('refused_at', '>=', since)
      .orderBy('worker_id')
      .orderBy(sql`name collate ${sql.raw(ctx.caps.byteCollation)}`)
      .execute();
    for (const r of rows) {
      const list = out.get(r.worker_id);
      if (list === undefined) out.set(r.worker_id, [r.name]);
      else list.push(r.name);
    }
  }
  return out;
}

/** Store.createModelFile. */
export async function createModelFile(
  ctx: StoreContext,
  m: Omit<ModelFile, 'createdAt'>,
  now: number,
): Promise<boolean> {
  try {
    await ctx.db
      .insertInto('model_files')
      .values({ name: m.name, kind: m.kind, url: m.url, sha256: m.sha256, size: m.size, created_at: now })
      .execute();
    return true;
  } catch (err) {
    if (isUniqueViolation(err)) return false;
    throw err;
  }
}

/** Store.getModelFile. */
export async function getModelFile(ctx: StoreContext, name: string): Promise<ModelFile | null> {
  const row = await ctx.db.selectFrom('model_files').selectAll().where('name', '=', name).executeTakeFirst();
  return row === undefined ? null : toModelFile(row);
}

/**
 * Store.listModelFiles: the rows sorted by name in UTF-8 code units (bytes) on both backends and both paths,
 * never by the database's collation; with `names`, one statement per slice of distinct names.
 */
export async function listModelFiles(ctx: StoreContext, names?: readonly string[]): Promise<ModelFile[]> {
  if (names === undefined) {
    const byName = sql`name collate ${sql.raw(ctx.caps.byteCollation)}`;
    return (await ctx.db.selectFrom('model_files').selectAll().orderBy(byName).execute()).map(toModelFile);
  }
  const found: ModelFile[] = [];
  for (const slice of slices([...new Set(names)])) {
    const rows = await ctx.db.selectFrom('model_files').selectAll().where('name', 'in', slice).execute();
    for (const row of rows) found.push(toModelFile(row));
  }
  // UTF-8 bytes, as the statement above orders (JS's `<` compares UTF-16 units, which differ past U+FFFF).
  return found.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
}

/** Store.deleteModelFile. */
export async function deleteModelFile(ctx: StoreContext, name: string): Promise<boolean> {
  const result = await ctx.db.deleteFrom('model_files').where('name', '=', name).executeTakeFirst();
  return result.numDeletedRows > 0n;
}
