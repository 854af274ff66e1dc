/** What the fleet autoscaler reads from the jobs table: recent arrivals and the users with work in flight. */
import { z } from 'zod';
import type { FleetActivity } from '../contract.js';
import type { StoreContext } from '../context.js';
import { newId } from '../../util/ids.js';

const ID_SLACK_MS = 60_000;
/** A week of a busy service; beyond this only the newest arrivals are returned. */
const MAX_ARRIVALS = 200_000;
const arrivalSchema = z.object({ created_at: z.number() });
const userSchema = z.object({ account_id: z.string(), user_id: z.string() });

/**
 * Store.fleetActivity. Job ids start with their creation time, so "created since" is a primary-key range
 * (`id >= job_<since>`), not a scan; active users come from the queued/running partial indexes.
 */
export async function fleetActivity(
  ctx: StoreContext,
  pools: readonly string[],
  createdSince: number,
): Promise<FleetActivity> {
  if (pools.length === 0) return { arrivals: [], activeUsers: [] };
  // A job's id is minted before its admission commits (inputs are stored in between): a minute of slack.
  const lowestId = newId('job', Math.max(0, createdSince - ID_SLACK_MS)).slice(0, 'job_'.length + 10);
  const arrivals = await ctx.db
    .selectFrom('jobs')
    .select('created_at')
    .where('id', '>=', lowestId)
    .where('created_at', '>=', createdSince)
    .where('pool', 'in', pools)
    .orderBy('id', 'desc')
    .limit(MAX_ARRIVALS)
    .execute();
  const active = await ctx.db
    .selectFrom('jobs')
    .select(['account_id', 'user_id'])
    .distinct()
    .where('status', 'in', ['queued', 'running'])
    .where('pool', 'in', pools)
    .limit(100_000)
    .execute();
  return {
    // Newest first from the index, so a huge backlog keeps the recent ones; handed out oldest first.
    arrivals: arrivals.map((r) => arrivalSchema.parse(r).created_at).reverse(),
    activeUsers: active.map((r) => {
      const u = userSchema.parse(r);
      return `${u.account_id}/${u.user_id}`;
    }),
  };
}
