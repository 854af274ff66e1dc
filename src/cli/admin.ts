/**
 * `arrakis admin accounts|keys|templates|worker-tokens create|list|revoke …`: the operator API of a running
 * control plane (`--server`, key in ARRAKIS_ADMIN_KEY). Answers print as JSON, so scripts can read them;
 * secrets (keys, tokens, webhook secrets) appear only in the create answers, as the API shows them only once.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Command } from 'commander';
import type { z } from 'zod';
import { createAccountBody, createKeyBody, templateBody } from '../api/wire/admin.js';
import { ArrakisAdmin } from '../client/index.js';
import { describeError, requireEnv, serverUrl, withServerOption } from './remote.js';

type Flags = Record<string, unknown>;
type Action = (admin: ArrakisAdmin, args: string[], flags: Flags) => Promise<unknown>;

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** The value checked against the same schema the server uses, so a typo is reported before any request. */
function parsed<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new Error(
    result.error.issues.map((i) => `${i.path.map(String).join('.') || 'value'}: ${i.message}`).join('; '),
  );
}

function int(flag: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new Error(`${flag}: expected a number, got ${String(value)}`);
  return n;
}

/** Adds one leaf command that runs `action` with an admin client. */
function leaf(parent: Command, name: string, description: string, action: Action): Command {
  const cmd = withServerOption(parent.command(name).description(description));
  cmd.action(async (...received: unknown[]) => {
    const command = received[received.length - 1] as Command;
    const args = received.slice(0, -2).filter((a): a is string => typeof a === 'string');
    const flags = command.optsWithGlobals<Flags>();
    try {
      const admin = new ArrakisAdmin({
        baseUrl: serverUrl(flags.server),
        adminKey: requireEnv('ARRAKIS_ADMIN_KEY', 'admin key'),
      });
      const result = await action(admin, args, flags);
      if (result !== undefined) print(result);
    } catch (err) {
      throw new Error(describeError(err));
    }
  });
  return cmd;
}

function accounts(admin: Command): void {
  const group = admin.command('accounts').description('tenant accounts');
  leaf(
    group,
    'create',
    'create an account (prints its webhook secret, shown only now)',
    async (a, _args, f) => {
      const limits = Object.fromEntries(
        [
          ['max_active_jobs_per_user', int('--max-active-jobs-per-user', f.maxActiveJobsPerUser)],
          ['max_active_jobs', int('--max-active-jobs', f.maxActiveJobs)],
          ['submit_rate_per_user', int('--submit-rate-per-user', f.submitRatePerUser)],
          ['submit_burst_per_user', int('--submit-burst-per-user', f.submitBurstPerUser)],
        ].filter(([, v]) => v !== undefined),
      );
      const body = { name: f.name, ...(Object.keys(limits).length > 0 ? { limits } : {}) };
      return await a.accounts.create(parsed(createAccountBody, body));
    },
  )
    .requiredOption('--name <name>', 'account name')
    .option('--max-active-jobs-per-user <n>', 'active jobs one user may have (default 5)')
    .option('--max-active-jobs <n>', 'active jobs the account may have (default 100)')
    .option('--submit-rate-per-user <n>', 'submissions per second per user (default 5)')
    .option('--submit-burst-per-user <n>', 'submission burst per user (default 10)');
  leaf(group, 'list', 'list accounts', async (a) => await a.accounts.list());
}

function keys(admin: Command): void {
  const group = admin.command('keys').description("accounts' API keys");
  leaf(group, 'create', 'mint an API key (printed only now)', async (a, _args, f) => {
    const scopes = typeof f.scopes === 'string' ? f.scopes.split(',').map((s) => s.trim()) : undefined;
    const body = parsed(createKeyBody, { name: f.name, ...(scopes === undefined ? {} : { scopes }) });
    return await a.keys.create(String(f.account), body);
  })
    .requiredOption('--account <id>', 'account id')
    .option('--name <name>', 'key name', 'cli')
    .option('--scopes <list>', 'comma-separated: jobs:write,jobs:read,workflows:raw (default all)');
  leaf(
    group,
    'list',
    "list an account's keys (no secrets)",
    async (a, _args, f) => await a.keys.list(String(f.account)),
  ).requiredOption('--account <id>', 'account id');
  leaf(group, 'revoke', 'revoke a key', async (a, [id]) => {
    await a.keys.revoke(id ?? '');
    return { revoked: id };
  }).argument('<key-id>');
}

async function templateFromFile(path: string, name: unknown): Promise<unknown> {
  const json: unknown = JSON.parse(await readFile(path, 'utf8'));
  const isBody = typeof json === 'object' && json !== null && 'workflow' in json;
  const body: Record<string, unknown> = isBody ? { ...json } : { workflow: json };
  if (typeof name === 'string') body.name = name;
  body.name ??= basename(path).replace(/\.json$/i, '');
  return body;
}

function templates(admin: Command): void {
  const group = admin.command('templates').description('workflow templates');
  leaf(group, 'create', 'create or replace a template from FILE.json', async (a, [file], f) => {
    return await a.templates.put(parsed(templateBody, await templateFromFile(file ?? '', f.name)));
  })
    .argument('<file>', 'a template body { name, workflow, params } or a bare workflow (API or UI format)')
    .option('--name <name>', "template name (default: the body's name, else the file name)");
  leaf(group, 'list', 'list templates', async (a) => await a.templates.list());
  leaf(group, 'revoke', 'delete a template', async (a, [name]) => {
    await a.templates.delete(name ?? '');
    return { deleted: name };
  })
    .argument('<name>')
    .alias('delete');
}

function workerTokens(admin: Command): void {
  const group = admin.command('worker-tokens').description('tokens for remote agents');
  leaf(
    group,
    'create',
    'issue a token for `arrakis agent` (printed only now)',
    async (a, _args, f) =>
      await a.workerTokens.create({
        name: String(f.name),
        ...(typeof f.pool === 'string' ? { pool: f.pool } : {}),
      }),
  )
    .requiredOption('--name <name>', 'worker or host name')
    .option('--pool <pool>', "pool the agent serves (default: the server's default pool)");
  leaf(group, 'list', 'list worker tokens (no secrets)', async (a) => await a.workerTokens.list());
  leaf(group, 'revoke', 'revoke a worker token', async (a, [id]) => {
    await a.workerTokens.revoke(id ?? '');
    return { revoked: id };
  }).argument('<token-id>');
}

/** Registers `arrakis admin …`. */
export function register(program: Command): void {
  const admin = withServerOption(
    program.command('admin').description('operator commands against a running server (ARRAKIS_ADMIN_KEY)'),
  );
  accounts(admin);
  keys(admin);
  templates(admin);
  workerTokens(admin);
}
