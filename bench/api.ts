/**
 * bench/api — the full API against a bare reference, same machine, same run.
 *
 *   node --import tsx bench/api.ts [--seconds 8] [--connections 50] [--rate-share 0.3,0.5] [--rate-seconds 6]
 *                                  [--profile DIR] [--only get|post]
 *
 * Full: `arrakis serve` on SQLite (no workers), GET /v1/jobs/{id} and POST /v1/jobs with an API key.
 * Bare: a minimal Fastify app doing the same key lookup (sha256 + constant-time compare) and the same
 * admission transaction (conditional counter increments + insert) with hand-written better-sqlite3
 * statements. autocannon runs as a separate process so it does not share the server's event loop. Both servers
 * run in this process at once and their phases alternate (bare GET, full GET, bare POST, full POST, then the same
 * at each fixed rate), so neither is measured in a process the other's whole run has already filled.
 *
 * Two phases per route and server. Saturation: `--connections` closed-loop connections as fast as the server
 * answers (req/s and the full/bare ratios). Fixed rate: at most the same connections offered each
 * `--rate-share` of the bare route's saturated req/s for that route (the same rate for bare and full), so
 * p50/p99 say what a request waits at a stated load, not the queue 50 closed-loop connections build (Little's law: at
 * saturation the mean latency is connections / req/s whatever the server does). The fixed rate is offered by
 * bench/open-loop.ts, one request every 1/rate s counted from its due time (wrk2's model), not by `autocannon
 * -R`, whose per-second quota per connection makes the first part of every second a saturated burst.
 * `--profile DIR` writes a V8 CPU profile of each measured window of each server (not its warm-up) to
 * DIR/full-get.cpuprofile, full-post, bare-get and bare-post; `node bench/top-frames.ts FILE` prints its top frames.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import Fastify from 'fastify';
import { z } from 'zod';
import { loadConfig } from '../src/config/load.js';
import { startControlPlane } from '../src/runtime/control-plane.js';

const run = promisify(execFile);
const args = process.argv.slice(2);
const arg = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const argText = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const SECONDS = arg('seconds', 8);
const PROFILE_DIR = argText('profile');
const ONLY = argText('only');
const CONNECTIONS = arg('connections', 50);
/** Shares of the bare route's saturated req/s offered in the fixed-rate phase, one row each (`--rate-share 0.3,0.5`). */
const RATE_SHARES = (argText('rate-share') ?? '0.3,0.5').split(',').map(Number);
const RATE_SECONDS = arg('rate-seconds', 6);
const ADMIN = 'bench-admin-key-0123456789';
const WORKFLOW = {
  '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
  '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
  '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'out' } },
};

interface Result {
  rps: number;
  /** The server process's CPU time (user + system) per answered request, µs: steadier than req/s on a busy machine. */
  cpuUs: number;
  p50: number;
  p99: number;
  non2xx: number;
}

const SKIPPED: Result = { rps: Number.NaN, cpuUs: Number.NaN, p50: Number.NaN, p99: Number.NaN, non2xx: 0 };

/** One server's two routes to measure. */
interface Server {
  get: Target;
  post: Target;
  close(): Promise<void>;
}

/** One server's two routes: saturated, then at each fixed offered rate. */
interface Routes {
  get: Result;
  post: Result;
  /** Per share of RATE_SHARES, in its order. */
  atRates: Array<{ get: Result; post: Result }>;
}

/** Offered req/s of the fixed-rate phase, per route: a share of the bare route's saturated req/s. */
interface Rates {
  share: number;
  get: number;
  post: number;
}

interface Target {
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
}

/** Warms the server up (JIT, caches) for 2 s, then measures; profiles the measured window when `profile` names a file. */
async function autocannon(
  url: string,
  method: 'GET' | 'POST',
  headers: Record<string, string>,
  body?: string,
  profile?: string,
): Promise<Result> {
  if (ONLY !== undefined && ONLY !== method.toLowerCase()) return SKIPPED;
  await once(url, method, headers, body, 2);
  if (PROFILE_DIR === undefined || profile === undefined)
    return await once(url, method, headers, body, SECONDS);
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  const result = await once(url, method, headers, body, SECONDS);
  const { profile: taken } = await session.post('Profiler.stop');
  session.disconnect();
  mkdirSync(PROFILE_DIR, { recursive: true });
  writeFileSync(join(PROFILE_DIR, `${profile}.cpuprofile`), JSON.stringify(taken));
  return result;
}

/**
 * The fixed-rate phase: `rate` req/s offered at even intervals by bench/open-loop.ts (its own process) over at
 * most the same number of connections, latency counted from each request's due time.
 */
async function atRate(t: Target, rate: number): Promise<Result> {
  if (ONLY !== undefined && ONLY !== t.method.toLowerCase()) return SKIPPED;
  if (!Number.isFinite(rate) || rate < 1) return SKIPPED;
  const script = join(import.meta.dirname, 'open-loop.ts');
  const spec = { ...t, rate, seconds: RATE_SECONDS, connections: CONNECTIONS };
  const cpu = process.cpuUsage();
  const { stdout } = await run(process.execPath, ['--import', 'tsx', script, JSON.stringify(spec)]);
  const used = process.cpuUsage(cpu);
  const r = openLoopSchema.parse(JSON.parse(stdout));
  const cpuUs = (used.user + used.system) / Math.max(1, r.sent);
  return { rps: r.rps, cpuUs, p50: r.p50, p99: r.p99, non2xx: r.non2xx + r.errors };
}

/** A percentile is null (JSON's NaN) when no request of the window succeeded. */
const latencyMs = z
  .number()
  .nullable()
  .transform((v) => v ?? Number.NaN);

const openLoopSchema = z.object({
  sent: z.number(),
  rps: z.number(),
  p50: latencyMs,
  p99: latencyMs,
  non2xx: z.number(),
  errors: z.number(),
});

async function once(
  url: string,
  method: 'GET' | 'POST',
  headers: Record<string, string>,
  body: string | undefined,
  seconds: number,
): Promise<Result> {
  const cli = join(import.meta.dirname, '..', 'node_modules', 'autocannon', 'autocannon.js');
  const argv = [cli, '-j', '-c', String(CONNECTIONS), '-d', String(seconds), '-m', method];
  for (const [k, v] of Object.entries(headers)) argv.push('-H', `${k}=${v}`);
  if (body !== undefined) argv.push('-b', body);
  argv.push(url);
  const cpu = process.cpuUsage();
  const { stdout } = await run(process.execPath, argv, { maxBuffer: 64 * 1024 * 1024 });
  const used = process.cpuUsage(cpu);
  const r = JSON.parse(stdout) as {
    requests: { average: number; total: number };
    latency: { p50: number; p99: number };
    non2xx: number;
  };
  const cpuUs = (used.user + used.system) / Math.max(1, r.requests.total);
  return { rps: r.requests.average, cpuUs, p50: r.latency.p50, p99: r.latency.p99, non2xx: r.non2xx };
}

/** `arrakis serve`'s control plane on SQLite (no workers), with an account, a key and one job to read. */
async function full(dir: string): Promise<Server> {
  const config = loadConfig(
    {},
    {},
    {
      db: `sqlite:${join(dir, 'full.db')}`,
      storage: `file:${join(dir, 'objects')}`,
      port: 0,
      adminKey: ADMIN,
      logLevel: 'silent',
    },
  );
  const cp = await startControlPlane(config);
  const admin = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
  const acct = (await (
    await fetch(`${cp.url}/v1/admin/accounts`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({
        name: 'bench',
        limits: {
          max_active_jobs_per_user: 100_000,
          max_active_jobs: 10_000_000,
          submit_rate_per_user: 100_000,
          submit_burst_per_user: 100_000,
        },
      }),
    })
  ).json()) as { id: string };
  const key = (
    (await (
      await fetch(`${cp.url}/v1/admin/accounts/${acct.id}/keys`, {
        method: 'POST',
        headers: admin,
        body: JSON.stringify({ name: 'b' }),
      })
    ).json()) as { key: string }
  ).key;
  const headers = {
    authorization: `Bearer ${key}`,
    'x-user-id': 'bench',
    'content-type': 'application/json',
  };
  const job = (await (
    await fetch(`${cp.url}/v1/jobs`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ workflow: WORKFLOW }),
    })
  ).json()) as { id: string };
  const getTarget: Target = { url: `${cp.url}/v1/jobs/${job.id}`, method: 'GET', headers };
  const postTarget: Target = {
    url: `${cp.url}/v1/jobs`,
    method: 'POST',
    headers,
    body: JSON.stringify({ workflow: WORKFLOW }),
  };
  return { get: getTarget, post: postTarget, close: () => cp.close() };
}

/** The fixed rates offered to both servers: each share of the bare server's saturated req/s. */
function ratesOf(bareSaturated: { get: Result; post: Result }): Rates[] {
  return RATE_SHARES.map((share) => ({
    share,
    get: bareSaturated.get.rps * share,
    post: bareSaturated.post.rps * share,
  }));
}

/** The bare reference: the same key check and admission transaction, hand-written, nothing else. */
async function bare(dir: string): Promise<Server> {
  const db = new Database(join(dir, 'bare.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(`CREATE TABLE keys (id TEXT PRIMARY KEY, account_id TEXT, hash TEXT, revoked_at INTEGER);
    CREATE TABLE accounts (id TEXT PRIMARY KEY, active INTEGER NOT NULL, max_active INTEGER NOT NULL, per_user INTEGER NOT NULL);
    CREATE TABLE user_counters (account_id TEXT, user_id TEXT, active INTEGER NOT NULL, PRIMARY KEY (account_id, user_id));
    CREATE TABLE jobs (id TEXT PRIMARY KEY, account_id TEXT, user_id TEXT, status TEXT, workflow TEXT, created_at INTEGER);`);
  const secret = randomBytes(32).toString('base64url');
  const hash = createHash('sha256').update(secret).digest('hex');
  db.prepare('INSERT INTO keys VALUES (?, ?, ?, NULL)').run('key1', 'acc1', hash);
  db.prepare('INSERT INTO accounts VALUES (?, 0, ?, ?)').run('acc1', 10_000_000, 10_000_000);
  const getKey = db.prepare<[string], { account_id: string; hash: string; revoked_at: number | null }>(
    'SELECT account_id, hash, revoked_at FROM keys WHERE id = ?',
  );
  const getJob = db.prepare<[string, string, string], Record<string, unknown>>(
    'SELECT * FROM jobs WHERE id = ? AND account_id = ? AND user_id = ?',
  );
  const incAccount = db.prepare(
    'UPDATE accounts SET active = active + 1 WHERE id = ? AND active < max_active',
  );
  const incUser = db.prepare(
    `INSERT INTO user_counters VALUES (?, ?, 1) ON CONFLICT (account_id, user_id)
     DO UPDATE SET active = active + 1 WHERE active < (SELECT per_user FROM accounts WHERE id = excluded.account_id)`,
  );
  const insert = db.prepare('INSERT INTO jobs VALUES (?, ?, ?, ?, ?, ?)');
  const admit = db.transaction((id: string, acct: string, user: string, wf: string) => {
    if (incAccount.run(acct).changes === 0) return false;
    if (incUser.run(acct, user).changes === 0) throw new Error('user limit');
    insert.run(id, acct, user, 'queued', wf, Date.now());
    return true;
  });
  const auth = (header: string | undefined): string | null => {
    const presented = header?.slice(7) ?? '';
    const row = getKey.get('key1');
    if (row === undefined || row.revoked_at !== null) return null;
    const a = createHash('sha256').update(presented).digest();
    return timingSafeEqual(a, Buffer.from(row.hash, 'hex')) ? row.account_id : null;
  };
  const app = Fastify();
  app.get<{ Params: { id: string } }>('/jobs/:id', async (req, reply) => {
    const acct = auth(req.headers.authorization);
    if (acct === null) return reply.code(401).send({});
    const job = getJob.get(req.params.id, acct, String(req.headers['x-user-id']));
    return job ?? reply.code(404).send({});
  });
  app.post('/jobs', async (req, reply) => {
    const acct = auth(req.headers.authorization);
    if (acct === null) return reply.code(401).send({});
    const id = `job_${randomBytes(10).toString('hex')}`;
    admit.immediate(
      id,
      acct,
      String(req.headers['x-user-id']),
      JSON.stringify((req.body as { workflow: unknown }).workflow),
    );
    return reply.code(202).send({ id, status: 'queued' });
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  admit.immediate('job_fixed', 'acc1', 'bench', '{}');
  const headers = {
    authorization: `Bearer ${secret}`,
    'x-user-id': 'bench',
    'content-type': 'application/json',
  };
  return {
    get: { url: `${url}/jobs/job_fixed`, method: 'GET', headers },
    post: { url: `${url}/jobs`, method: 'POST', headers, body: JSON.stringify({ workflow: WORKFLOW }) },
    close: async () => {
      await app.close();
      db.close();
    },
  };
}

const dir = mkdtempSync(join(tmpdir(), 'arrakis-bench-api-'));
try {
  // Both servers up at once, their phases interleaved (bare, then full, route by route), so neither measures
  // in a process the other's whole run has already filled (its heap, its database's pages).
  const bareServer = await bare(dir);
  const fullServer = await full(dir);
  const run = (t: Target, profile: string): Promise<Result> =>
    autocannon(t.url, t.method, t.headers, t.body, profile);
  const b: Routes = { get: await run(bareServer.get, 'bare-get'), post: SKIPPED, atRates: [] };
  const f: Routes = { get: await run(fullServer.get, 'full-get'), post: SKIPPED, atRates: [] };
  b.post = await run(bareServer.post, 'bare-post');
  f.post = await run(fullServer.post, 'full-post');
  // The fixed rates come from the bare server's saturated req/s, and are offered to both.
  const rates = ratesOf(b);
  for (const r of rates) {
    const bareGet = await atRate(bareServer.get, r.get);
    const fullGet = await atRate(fullServer.get, r.get);
    const barePost = await atRate(bareServer.post, r.post);
    const fullPost = await atRate(fullServer.post, r.post);
    b.atRates.push({ get: bareGet, post: barePost });
    f.atRates.push({ get: fullGet, post: fullPost });
  }
  await bareServer.close();
  await fullServer.close();
  const row = (name: string, r: Result): string =>
    `${name.padEnd(22)} ${r.rps.toFixed(0).padStart(8)} req/s   cpu ${r.cpuUs.toFixed(0).padStart(4)} µs/req   p50 ${String(r.p50).padStart(3)} ms   p99 ${String(r.p99).padStart(3)} ms   non-2xx ${r.non2xx}`;
  console.log(
    `bench/api: ${CONNECTIONS} connections, ${SECONDS} s each after 2 s of warm-up, SQLite, autocannon in a separate process`,
  );
  console.log(row('bare   GET /jobs/{id}', b.get));
  console.log(row('full   GET /v1/jobs/{id}', f.get));
  console.log(row('bare   POST /jobs', b.post));
  console.log(row('full   POST /v1/jobs', f.post));
  console.log(
    `ratio  GET  full/bare = ${(f.get.rps / b.get.rps).toFixed(2)}   (target ≥ 0.70, ≥ 12,000/s, p99 < 20 ms)`,
  );
  console.log(
    `ratio  POST full/bare = ${(f.post.rps / b.post.rps).toFixed(2)}   (target ≥ 0.50, ≥ 3,000/s, p99 < 20 ms)`,
  );
  console.log(
    `fixed rate: shares of the bare route's saturated req/s, the same offered to bare and full, ${RATE_SECONDS} s each (open loop, bench/open-loop.ts: latency from each request's due time)`,
  );
  const atRow = (name: string, rate: number, r: Result): string =>
    `${name.padEnd(24)} @ ${rate.toFixed(0).padStart(5)}/s   got ${r.rps.toFixed(0).padStart(5)} req/s   cpu ${r.cpuUs.toFixed(0).padStart(4)} µs/req   p50 ${String(r.p50).padStart(3)} ms   p99 ${String(r.p99).padStart(3)} ms   non-2xx ${r.non2xx}`;
  for (const [k, r] of rates.entries()) {
    const share = `${(r.share * 100).toFixed(0)} %`;
    const ofFull = (rate: number, saturated: number): string =>
      `(${((100 * rate) / saturated).toFixed(0)} % of full's saturated)`;
    console.log(`at ${share} of bare: GET ${ofFull(r.get, f.get.rps)}, POST ${ofFull(r.post, f.post.rps)}`);
    console.log(atRow('bare   GET /jobs/{id}', r.get, b.atRates[k]?.get ?? SKIPPED));
    console.log(atRow('full   GET /v1/jobs/{id}', r.get, f.atRates[k]?.get ?? SKIPPED));
    console.log(atRow('bare   POST /jobs', r.post, b.atRates[k]?.post ?? SKIPPED));
    console.log(atRow('full   POST /v1/jobs', r.post, f.atRates[k]?.post ?? SKIPPED));
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
