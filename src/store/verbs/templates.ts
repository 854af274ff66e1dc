/** Workflow templates, by name. */
import type { Template } from '../../jobs/types.js';
import type { StoreContext } from '../context.js';
import { toTemplate } from '../rows.js';

/** Store.upsertTemplate: keeps the original created_at on update. */
export async function upsertTemplate(
  ctx: StoreContext,
  t: Omit<Template, 'createdAt' | 'updatedAt'>,
  now: number,
): Promise<Template> {
  const workflow = JSON.stringify(t.workflow);
  const params = JSON.stringify(t.params);
  await ctx.db
    .insertInto('templates')
    .values({
      name: t.name,
      description: t.description,
      workflow,
      params,
      account_id: t.accountId,
      created_at: now,
      updated_at: now,
    })
    .onConflict((oc) =>
      oc.column('name').doUpdateSet({
        description: t.description,
        workflow,
        params,
        account_id: t.accountId,
        updated_at: now,
      }),
    )
    .execute();
  const stored = await getTemplate(ctx, t.name);
  if (stored === null) throw new Error(`template ${t.name} vanished after upsert`);
  return stored;
}

/** Store.getTemplate. */
export async function getTemplate(ctx: StoreContext, name: string): Promise<Template | null> {
  const row = await ctx.db.selectFrom('templates').selectAll().where('name', '=', name).executeTakeFirst();
  return row === undefined ? null : toTemplate(row);
}

/** Store.listTemplates (by name). */
export async function listTemplates(ctx: StoreContext): Promise<Template[]> {
  return (await ctx.db.selectFrom('templates').selectAll().orderBy('name').execute()).map(toTemplate);
}

/** Store.deleteTemplate. */
export async function deleteTemplate(ctx: StoreContext, name: string): Promise<boolean> {
  const result = await ctx.db.deleteFrom('templates').where('name', '=', name).executeTakeFirst();
  return result.numDeletedRows > 0n;
}
