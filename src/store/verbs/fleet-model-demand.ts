/**
 * What the fleet's model plan reads from the jobs table: per base model, how many of the pools' jobs are
 * queued (certain demand) and how many were admitted since a time (the forecast of which models come next).
 * Counted by the database over the jobs' base-model columns (migration 011), so a tick costs one aggregate per
 * question, not a parse of every queued job's `models` JSON.
 */
import { sql } from 'kysely';
import { z } from 'zod';
import { MODEL_KINDS } from '../../models/model-refs.js';
import type { FleetModelDemand } from '../contract.js';
import type { StoreContext } from '../context.js';
import { newId } from '../../util/ids.js';

const ID_SLACK_MS = 60_000;
/** Bounds the arrivals read (groups of one model and minute); a longer backlog is read from its newest part. */
const MAX_GROUPS = 20_000;
/** Arrivals are counted per UTC minute of admission. */
const GROUP_MS = 60_000;

const countSchema = z.coerce.number().int().nonnegative();
const queuedSchema = z.object({ kind: z.enum(MODEL_KINDS), name: z.string(), n: countSchema });
const arrivalSchema = queuedSchema.extend({ at: z.coerce.number() });

/**
 * Store.fleetModelDemand. Queued jobs are counted from the queued base-model partial index; arrivals by the
 * job id range (ids start with their creation time), as in fleetActivity.
 */
export async function fleetModelDemand(
  ctx: StoreContext,
  pools: readonly string[],
  createdSince: number,
): Promise<FleetModelDemand> {
  if (pools.length === 0) return { queued: [], arrivals: [] };
  const queued = await ctx.db
    .selectFrom('jobs')
    .select(['base_model_kind as kind', 'base_model_name as name', sql<number>`COUNT(*)`.as('n')])
    .where('status', '=', 'queued')
    .where('base_model_name', 'is not', null)
    .where('pool', 'in', [...pools])
    .groupBy(['base_model_kind', 'base_model_name'])
    .orderBy('base_model_kind')
    .orderBy('base_model_name')
    .execute();
  const lowestId = newId('job', Math.max(0, createdSince - ID_SLACK_MS)).slice(0, 'job_'.length + 10);
  // A literal: a bound JS number is a REAL on SQLite, and the division would not round down.
  const minute = sql<number>`(created_at / ${sql.lit(GROUP_MS)})`;
  const arrivals = await ctx.db
    .selectFrom('jobs')
    .select([
      'base_model_kind as kind',
      'base_model_name as name',
      sql<number>`COUNT(*)`.as('n'),
      sql<number>`MAX(created_at)`.as('at'),
    ])
    .where('id', '>=', lowestId)
    .where('created_at', '>=', createdSince)
    .where('base_model_name', 'is not', null)
    .where('pool', 'in', [...pools])
    .groupBy([minute, 'base_model_kind', 'base_model_name'])
    .orderBy(sql`MAX(created_at)`, 'desc')
    .orderBy('base_model_kind')
    .orderBy('base_model_name')
    .limit(MAX_GROUPS)
    .execute();
  return {
    queued: queued.map((r) => {
      const q = queuedSchema.parse(r);
      return { model: { kind: q.kind, name: q.name }, count: q.n };
    }),
    arrivals: arrivals
      .map((r) => {
        const a = arrivalSchema.parse(r);
        return { at: a.at, model: { kind: a.kind, name: a.name }, count: a.n };
      })
      .reverse(),
  };
}
