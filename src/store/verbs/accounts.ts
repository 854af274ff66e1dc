/** Accounts and their API keys. */
import type { Account, ApiKeyRecord } from '../../jobs/types.js';
import { newId } from '../../util/ids.js';
import type { AccountPatch, NewAccount, NewApiKey } from '../contract.js';
import { runOne, type StoreContext } from '../context.js';
import { parseJson, stringListSchema } from '../json-columns.js';
import { toAccount, toApiKey } from '../rows.js';
import type { Updateable } from 'kysely';
import { z } from 'zod';
import type { AccountsTable } from '../schema.js';

/** touchApiKey skips the write while the stored value is younger than this. */
const TOUCH_INTERVAL_MS = 60_000;

function jsonOrNull(value: unknown): string | null {
  return value === null ? null : JSON.stringify(value);
}

/** Store.createAccount. */
export async function createAccount(ctx: StoreContext, input: NewAccount, now: number): Promise<Account> {
  const id = newId('acct', now);
  await ctx.db
    .insertInto('accounts')
    .values({
      id,
      name: input.name,
      max_active_jobs_per_user: input.limits.max_active_jobs_per_user,
      max_active_jobs: input.limits.max_active_jobs,
      submit_rate_per_user: input.limits.submit_rate_per_user,
      submit_burst_per_user: input.limits.submit_burst_per_user,
      jwt: jsonOrNull(input.jwt),
      node_allowlist: jsonOrNull(input.nodeAllowlist),
      file_node_allowlist: JSON.stringify(input.fileNodeAllowlist ?? []),
      allowed_pools: jsonOrNull(input.allowedPools),
      webhook_secret: input.webhookSecret,
      webhook_secret_previous: null,
      webhook_secret_previous_until: null,
      created_at: now,
    })
    .execute();
  const account = await getAccount(ctx, id);
  if (account === null) throw new Error(`account ${id} vanished after insert`);
  return account;
}

/** Store.getAccount. */
export async function getAccount(ctx: StoreContext, id: string): Promise<Account | null> {
  // One prepared statement, synchronous where it can be (a key-cache miss of the API reads it).
  const row = (await runOne(ctx, ctx.sql.accountById, [id]))[0];
  return row === undefined ? null : toAccount(row);
}

const allowlistRowSchema = z.object({ file_node_allowlist: z.string() });

/** A row's file_node_allowlist column, parsed as getAccount parses it (a claim reads it: claims.ts). */
export function fileNodeAllowlistOf(row: unknown): string[] {
  const text = allowlistRowSchema.parse(row).file_node_allowlist;
  return text === '[]' ? [] : parseJson(stringListSchema, text);
}

/** Store.listAccounts (oldest first). */
export async function listAccounts(ctx: StoreContext): Promise<Account[]> {
  const rows = await ctx.db.selectFrom('accounts').selectAll().orderBy('created_at').orderBy('id').execute();
  return rows.map(toAccount);
}

function patchColumns(patch: AccountPatch): Updateable<AccountsTable> {
  const set: Updateable<AccountsTable> = {};
  if (patch.name !== undefined) set.name = patch.name;
  if (patch.limits !== undefined) {
    set.max_active_jobs_per_user = patch.limits.max_active_jobs_per_user;
    set.max_active_jobs = patch.limits.max_active_jobs;
    set.submit_rate_per_user = patch.limits.submit_rate_per_user;
    set.submit_burst_per_user = patch.limits.submit_burst_per_user;
  }
  if (patch.jwt !== undefined) set.jwt = jsonOrNull(patch.jwt);
  if (patch.nodeAllowlist !== undefined) set.node_allowlist = jsonOrNull(patch.nodeAllowlist);
  if (patch.fileNodeAllowlist !== undefined)
    set.file_node_allowlist = JSON.stringify(patch.fileNodeAllowlist);
  if (patch.allowedPools !== undefined) set.allowed_pools = jsonOrNull(patch.allowedPools);
  return set;
}

/** Store.updateAccount. */
export async function updateAccount(
  ctx: StoreContext,
  id: string,
  patch: AccountPatch,
): Promise<Account | null> {
  const set = patchColumns(patch);
  if (Object.keys(set).length > 0) {
    await ctx.db.updateTable('accounts').set(set).where('id', '=', id).execute();
  }
  return await getAccount(ctx, id);
}

/** Store.rotateWebhookSecret. */
export async function rotateWebhookSecret(
  ctx: StoreContext,
  accountId: string,
  secret: string,
  previousUntil: number,
): Promise<Account | null> {
  await ctx.db
    .updateTable('accounts')
    .set((eb) => ({
      webhook_secret_previous: eb.ref('webhook_secret'),
      webhook_secret_previous_until: previousUntil,
      webhook_secret: secret,
    }))
    .where('id', '=', accountId)
    .execute();
  return await getAccount(ctx, accountId);
}

/** Store.createApiKey. */
export async function createApiKey(ctx: StoreContext, input: NewApiKey, now: number): Promise<ApiKeyRecord> {
  const id = input.id ?? newId('key', now);
  await ctx.db
    .insertInto('api_keys')
    .values({
      id,
      account_id: input.accountId,
      name: input.name,
      hash: input.hash,
      scopes: JSON.stringify(input.scopes),
      created_at: now,
      last_used_at: null,
      revoked_at: null,
    })
    .execute();
  const key = await getApiKey(ctx, id);
  if (key === null) throw new Error(`api key ${id} vanished after insert`);
  return key;
}

/** Store.getApiKey. */
export async function getApiKey(ctx: StoreContext, id: string): Promise<ApiKeyRecord | null> {
  const row = await ctx.db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
  return row === undefined ? null : toApiKey(row);
}

/** Store.listApiKeys (oldest first). */
export async function listApiKeys(ctx: StoreContext, accountId: string): Promise<ApiKeyRecord[]> {
  const rows = await ctx.db
    .selectFrom('api_keys')
    .selectAll()
    .where('account_id', '=', accountId)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  return rows.map(toApiKey);
}

/** Store.revokeApiKey. */
export async function revokeApiKey(ctx: StoreContext, id: string, now: number): Promise<boolean> {
  const result = await ctx.db
    .updateTable('api_keys')
    .set({ revoked_at: now })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Store.touchApiKey: writes at most once a minute per key. */
export async function touchApiKey(ctx: StoreContext, id: string, now: number): Promise<void> {
  await ctx.db
    .updateTable('api_keys')
    .set({ last_used_at: now })
    .where('id', '=', id)
    .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<=', now - TOUCH_INTERVAL_MS)]))
    .execute();
}
