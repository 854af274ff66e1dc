/**
 * auth: the answers that keep tenants apart. A wrong key and no key answer 401; a key without X-User-ID is
 * refused (400 invalid_user_id, or 401); another user of the same account, and the same user id under
 * another account, see 404 for the job, exactly as for an unknown id, and cannot cancel it.
 */
import { ArrakisClient, ArrakisError } from '../../client/index.js';
import type { BenchContext } from '../context.js';
import { record } from '../job-runner.js';
import { count } from '../types.js';
import { verdict, type Verdict } from './verdict.js';

interface Case {
  name: string;
  expected: readonly number[];
  call: () => Promise<unknown>;
}

/** The HTTP status a call ended with (200 when it succeeded). */
async function statusOf(call: () => Promise<unknown>): Promise<number> {
  try {
    await call();
    return 200;
  } catch (err) {
    if (err instanceof ArrakisError && err.status > 0) return err.status;
    throw err;
  }
}

/** A raw GET with exactly these headers (the client always sends a user, so it cannot test its absence). */
async function rawGet(url: string, headers: Record<string, string>): Promise<void> {
  const res = await fetch(url, { headers });
  await res.body?.cancel();
  if (!res.ok) throw new ArrakisError({ status: res.status, code: 'invalid_response', detail: '' });
}

function cases(ctx: BenchContext, jobId: string, stranger: ArrakisClient): Case[] {
  const server = ctx.options.server;
  const wrongKey = new ArrakisClient({ baseUrl: server, apiKey: 'ak_wrong_bench_key', userId: 'owner' });
  const other = ctx.client('auth-other');
  return [
    { name: 'wrong key', expected: [401], call: () => wrongKey.jobs.list() },
    { name: 'no credentials', expected: [401], call: () => rawGet(`${server}/v1/jobs`, {}) },
    {
      name: 'key without X-User-ID',
      expected: [400, 401],
      call: () => rawGet(`${server}/v1/jobs`, { authorization: `Bearer ${ctx.main.apiKey}` }),
    },
    { name: "another user's job", expected: [404], call: () => other.jobs.get(jobId) },
    { name: "cancel another user's job", expected: [404], call: () => other.jobs.cancel(jobId) },
    { name: "another account's key", expected: [404], call: () => stranger.jobs.get(jobId) },
    { name: "cancel with another account's key", expected: [404], call: () => stranger.jobs.cancel(jobId) },
  ];
}

export async function authCheck(ctx: BenchContext): Promise<Verdict> {
  const owner = ctx.client('auth-owner');
  const job = await owner.jobs.create(ctx.jobs.short());
  record(ctx, 'auth', job);
  const otherAccount = await ctx.newAccount('isolation');
  const ownerId = job.user_id;
  const stranger = new ArrakisClient({
    baseUrl: ctx.options.server,
    apiKey: otherAccount.apiKey,
    userId: ownerId,
  });
  const results: string[] = [];
  let passed = 0;
  const all = cases(ctx, job.id, stranger);
  for (const c of all) {
    ctx.progress.update(c.name);
    const status = await statusOf(c.call);
    const ok = c.expected.includes(status);
    if (ok) passed++;
    results.push(`${ok ? 'ok' : 'WRONG'}: ${c.name} → ${status} (expected ${c.expected.join(' or ')})`);
  }
  record(ctx, 'auth', await owner.jobs.get(job.id));
  const figures = { cases: count('cases', all.length), passed: count('answered as expected', passed) };
  const wrong = results.filter((r) => r.startsWith('WRONG'));
  if (wrong.length > 0) return verdict('fail', wrong.join('; '), figures, results);
  return verdict('pass', `${passed}/${all.length} cases answered 401/400/404 as expected`, figures, results);
}
