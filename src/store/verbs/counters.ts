/**
 * The reconciler: recounts active (queued + running) and running jobs from the jobs table and repairs
 * the counters. One transaction per account that locks its user counters and then its account row first
 * (the lock order every transaction shares), so counts cannot go stale under concurrent admissions and claims.
 */
import { sql } from 'kysely';
import { z } from 'zod';
import type { CounterRepair } from '../contract.js';
import { inTx, type Conn, type StoreContext } from '../context.js';

const recountSchema = z.object({ user_id: z.string(), status: z.string(), n: z.coerce.number() });
const counterSchema = z.object({ user_id: z.string(), active: z.number(), running: z.number() });
const accountSchema = z.object({ active_jobs: z.number() });

interface Tally {
  active: number;
  running: number;
}

async function recount(tx: Conn, accountId: string): Promise<Map<string, Tally>> {
  const rows = await tx
    .selectFrom('jobs')
    .select(['user_id', 'status', sql<number>`COUNT(*)`.as('n')])
    .where('account_id', '=', accountId)
    .where('status', 'in', ['queued', 'running'])
    .groupBy(['user_id', 'status'])
    .execute();
  const tallies = new Map<string, Tally>();
  for (const raw of rows) {
    const r = recountSchema.parse(raw);
    const t = tallies.get(r.user_id) ?? { active: 0, running: 0 };
    t.active += r.n;
    if (r.status === 'running') t.running += r.n;
    tallies.set(r.user_id, t);
  }
  return tallies;
}

type Stored = Map<string, Tally>;

async function lockUserCounters(ctx: StoreContext, tx: Conn, accountId: string): Promise<Stored> {
  let q = tx
    .selectFrom('user_counters')
    .select(['user_id', 'active', 'running'])
    .where('account_id', '=', accountId);
  if (ctx.caps.rowLocks) q = q.forUpdate();
  const counters = (await q.execute()).map((r) => counterSchema.parse(r));
  return new Map(counters.map((c) => [c.user_id, { active: c.active, running: c.running }]));
}

async function lockAccount(ctx: StoreContext, tx: Conn, accountId: string): Promise<number | null> {
  let q = tx.selectFrom('accounts').select('active_jobs').where('id', '=', accountId);
  if (ctx.caps.rowLocks) q = q.forUpdate();
  const row = await q.executeTakeFirst();
  return row === undefined ? null : accountSchema.parse(row).active_jobs;
}

async function repairUsers(
  tx: Conn,
  accountId: string,
  stored: Stored,
  tallies: Stored,
): Promise<CounterRepair[]> {
  const repairs: CounterRepair[] = [];
  for (const userId of new Set([...stored.keys(), ...tallies.keys()])) {
    const want = tallies.get(userId) ?? { active: 0, running: 0 };
    const have = stored.get(userId) ?? { active: 0, running: 0 };
    if (have.active === want.active && have.running === want.running) continue;
    await tx
      .insertInto('user_counters')
      .values({ account_id: accountId, user_id: userId, active: want.active, running: want.running })
      .onConflict((oc) =>
        oc.columns(['account_id', 'user_id']).doUpdateSet({ active: want.active, running: want.running }),
      )
      .execute();
    if (have.active !== want.active) {
      repairs.push({ scope: 'user', accountId, userId, was: have.active, now: want.active });
    }
  }
  return repairs;
}

async function reconcileAccount(ctx: StoreContext, accountId: string): Promise<CounterRepair[]> {
  return await inTx(ctx, async (tx) => {
    // The shared lock order: user_counters, then accounts; counts are read only once both are held.
    const stored = await lockUserCounters(ctx, tx, accountId);
    const was = await lockAccount(ctx, tx, accountId);
    if (was === null) return [];
    const tallies = await recount(tx, accountId);
    const repairs = await repairUsers(tx, accountId, stored, tallies);
    let total = 0;
    for (const t of tallies.values()) total += t.active;
    if (total !== was) {
      await tx.updateTable('accounts').set({ active_jobs: total }).where('id', '=', accountId).execute();
      repairs.push({ scope: 'account', accountId, userId: null, was, now: total });
    }
    return repairs;
  });
}

/** Store.reconcileCounters: every account, each in its own transaction. */
export async function reconcileCounters(ctx: StoreContext): Promise<CounterRepair[]> {
  const accounts = await ctx.db.selectFrom('accounts').select('id').orderBy('id').execute();
  const repairs: CounterRepair[] = [];
  for (const { id } of accounts) repairs.push(...(await reconcileAccount(ctx, id)));
  return repairs;
}
