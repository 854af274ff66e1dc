/**
 * The claim-with-lease step shared by the input fetchers and the webhook deliverers: pick up to `limit` ids in
 * order, row-locked and skipping rows another transaction holds where the database can (Postgres), then lease
 * exactly those rows. Callers run it inside one transaction so the pick and the lease are atomic on SQLite too.
 */
import type { SelectQueryBuilder } from 'kysely';
import { z } from 'zod';
import type { StoreContext } from '../context.js';
import type { DatabaseSchema } from '../schema.js';

const idSchema = z.object({ id: z.string() });

/** Runs `pick` (SKIP LOCKED where supported) and hands the ids to `lease`; [] without calling it when none. */
export async function leaseBatch<TB extends keyof DatabaseSchema, R>(
  ctx: StoreContext,
  pick: SelectQueryBuilder<DatabaseSchema, TB, { id: string }>,
  lease: (ids: string[]) => Promise<R[]>,
): Promise<R[]> {
  const locked = ctx.caps.rowLocks ? pick.forUpdate().skipLocked() : pick;
  const ids = (await locked.execute()).map((r) => idSchema.parse(r).id);
  return ids.length === 0 ? [] : await lease(ids);
}
