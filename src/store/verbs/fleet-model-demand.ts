/**
 * What the fleet's model plan reads from the jobs table: the models of the pools' queued jobs (certain
 * demand) and of the jobs admitted since a time (the forecast of which models come next).
 */
import { sql } from 'kysely';
import { z } from 'zod';
import type { ModelRef } from '../../models/model-refs.js';
import type { FleetModelDemand } from '../contract.js';
import type { StoreContext } from '../context.js';
import { parseJson } from '../json-columns.js';
import { modelRefsSchema } from '../rows.js';
import { newId } from '../../util/ids.js';

const ID_SLACK_MS = 60_000;
/** Bounds each read; a backlog beyond it is planned from its oldest (queued) or newest (arrivals) part. */
const MAX_ROWS = 20_000;
const queuedSchema = z.object({ models: z.string() });
const arrivalSchema = z.object({ created_at: z.number(), models: z.string() });

function refs(text: string): ModelRef[] {
  return parseJson(modelRefsSchema, text);
}

/**
 * Store.fleetModelDemand. Queued jobs come from the queued partial index; arrivals by the job id range (ids
 * start with their creation time), as in fleetActivity. Jobs naming no model are left out of both.
 */
export async function fleetModelDemand(
  ctx: StoreContext,
  pools: readonly string[],
  createdSince: number,
): Promise<FleetModelDemand> {
  const inPools = pools.length > 0 ? sql<boolean>`pool IN (${sql.join(pools)})` : sql<boolean>`FALSE`;
  const queued = await ctx.db
    .selectFrom('jobs')
    .select('models')
    .where('status', '=', 'queued')
    .where('models', '!=', '[]')
    .where(inPools)
    .orderBy('id')
    .limit(MAX_ROWS)
    .execute();
  const lowestId = newId('job', Math.max(0, createdSince - ID_SLACK_MS)).slice(0, 'job_'.length + 10);
  const arrivals = await ctx.db
    .selectFrom('jobs')
    .select(['created_at', 'models'])
    .where('id', '>=', lowestId)
    .where('created_at', '>=', createdSince)
    .where('models', '!=', '[]')
    .where(inPools)
    .orderBy('id', 'desc')
    .limit(MAX_ROWS)
    .execute();
  return {
    queued: queued.map((r) => refs(queuedSchema.parse(r).models)),
    arrivals: arrivals
      .map((r) => {
        const a = arrivalSchema.parse(r);
        return { at: a.created_at, models: refs(a.models) };
      })
      .reverse(),
  };
}
