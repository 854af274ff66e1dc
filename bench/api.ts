/**
 * bench/api — the full API against a bare reference, same machine, same run.
 *
 *   node --import tsx bench/api.ts [--seconds 8] [--connections 50] [--rate-share 0.3,0.5] [--rate-seconds 6]
 *                                  [--profile DIR] [--only get|post]
 *
 * Full: `arrakis serve`'s control plane on SQLite (no workers), GET /v1/jobs/{id} and POST /v1/jobs with an API
 * key (bench/api-full-server.ts). Bare: a minimal Fastify app doing the same key lookup (sha256 + constant-time
 * compare) and the same admission transaction (conditional counter increments + insert) with hand-written
 * better-sqlite3 statements (bench/api-bare-server.ts). Each server runs in its own child process, as in
 * production, and seeds itself (account, key, the job to GET) before it reports ready over IPC
 * (bench/api-server-ipc.ts); this process only orchestrates. In one shared process each server's tail held the
 * other's garbage collections too: after the saturated POST phases that one heap held both servers' data, and
 * its mark-compact pauses (15–33 ms) set the p99 at the fixed rate. Now each tail is its own process's. autocannon
 * and the open-loop generator run as processes of their own too. Both servers are up at once and their phases
 * alternate (bare GET, full GET, bare POST, full POST, then the same at each fixed rate), so a drift of the
 * machine's load over the run falls on both alike.
 *
 * Two phases per route and server. Saturation: `--connections` closed-loop connections as fast as the server
 * answers (req/s and the full/bare ratios). Fixed rate: at most the same connections offered each
 * `--rate-share` of the bare route's saturated req/s for that route (the same rate for bare and full), so
 * p50/p99 say what a request waits at a stated load, not the queue 50 closed-loop connections build (Little's law: at
 * saturation the mean latency is connections / req/s whatever the server does). The fixed rate is offered by
 * bench/open-loop.ts, one request every 1/rate s counted from its due time (wrk2's model), not by `autocannon
 * -R`, whose per-second quota per connection makes the first part of every second a saturated burst.
 * cpu µs/req is the server child's own CPU time over the measured window per request. The last lines give each
 * server's heap used after its last fixed-rate window and its GC pauses summed over its fixed-rate windows.
 * `--profile DIR` writes a V8 CPU profile of each measured window of each server child (not its warm-up) to
 * DIR/full-get.cpuprofile, full-post, bare-get and bare-post; `node bench/top-frames.ts FILE` prints its top frames.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { z } from 'zod';
import {
  addGc,
  type BenchServer,
  forkBenchServer,
  type GcPauses,
  NO_GC,
  type Target,
} from './api-server-ipc.js';

const run = promisify(execFile);
/** Aborted on exit: kills a running autocannon or open-loop child with this process. */
const loadGenerators = new AbortController();
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
interface Result {
  rps: number;
  /** The server process's CPU time (user + system) per answered request, µs: steadier than req/s on a busy machine. */
  cpuUs: number;
  p50: number;
  p99: number;
  non2xx: number;
}

const SKIPPED: Result = { rps: Number.NaN, cpuUs: Number.NaN, p50: Number.NaN, p99: Number.NaN, non2xx: 0 };

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

/**
 * Warms the server up (JIT, caches) for 2 s, then measures; profiles the measured window when `--profile` is given,
 * to DIR/`profile`.cpuprofile.
 */
async function autocannon(server: BenchServer, t: Target, profile: string): Promise<Result> {
  if (ONLY !== undefined && ONLY !== t.method.toLowerCase()) return SKIPPED;
  await once(t, 2);
  await server.startWindow(PROFILE_DIR !== undefined);
  const r = await once(t, SECONDS);
  const file = PROFILE_DIR === undefined ? undefined : join(PROFILE_DIR, `${profile}.cpuprofile`);
  const used = await server.stopWindow(file);
  const cpuUs = used.cpuUs / Math.max(1, r.total);
  return { rps: r.rps, cpuUs, p50: r.p50, p99: r.p99, non2xx: r.non2xx };
}

/** One server's GC over its fixed-rate windows, and its heap used after the last one. */
interface GcSeen {
  gc: GcPauses;
  heapUsedBytes: number;
}

/**
 * The fixed-rate phase: `rate` req/s offered at even intervals by bench/open-loop.ts (its own process) over at
 * most the same number of connections, latency counted from each request's due time. Adds the window's GC to
 * `seen`.
 */
async function atRate(server: BenchServer, t: Target, rate: number, seen: GcSeen): Promise<Result> {
  if (ONLY !== undefined && ONLY !== t.method.toLowerCase()) return SKIPPED;
  if (!Number.isFinite(rate) || rate < 1) return SKIPPED;
  const script = join(import.meta.dirname, 'open-loop.ts');
  const spec = { ...t, rate, seconds: RATE_SECONDS, connections: CONNECTIONS };
  await server.startWindow(false);
  const { stdout } = await run(process.execPath, ['--import', 'tsx', script, JSON.stringify(spec)], {
    signal: loadGenerators.signal,
  });
  const used = await server.stopWindow();
  seen.gc = addGc(seen.gc, used.gc);
  seen.heapUsedBytes = used.heapUsedBytes;
  const r = openLoopSchema.parse(JSON.parse(stdout));
  const cpuUs = used.cpuUs / Math.max(1, r.sent);
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

const autocannonSchema = z.object({
  requests: z.object({ average: z.number(), total: z.number() }),
  latency: z.object({ p50: z.number(), p99: z.number() }),
  non2xx: z.number(),
});

/** One autocannon run (its own process) of `seconds` against `t`. */
async function once(
  t: Target,
  seconds: number,
): Promise<{ rps: number; total: number; p50: number; p99: number; non2xx: number }> {
  const cli = join(import.meta.dirname, '..', 'node_modules', 'autocannon', 'autocannon.js');
  const argv = [cli, '-j', '-c', String(CONNECTIONS), '-d', String(seconds), '-m', t.method];
  for (const [k, v] of Object.entries(t.headers)) argv.push('-H', `${k}=${v}`);
  if (t.body !== undefined) argv.push('-b', t.body);
  argv.push(t.url);
  const { stdout } = await run(process.execPath, argv, {
    maxBuffer: 64 * 1024 * 1024,
    signal: loadGenerators.signal,
  });
  const r = autocannonSchema.parse(JSON.parse(stdout));
  return {
    rps: r.requests.average,
    total: r.requests.total,
    p50: r.latency.p50,
    p99: r.latency.p99,
    non2xx: r.non2xx,
  };
}

/** The fixed rates offered to both servers: each share of the bare server's saturated req/s. */
function ratesOf(bareSaturated: { get: Result; post: Result }): Rates[] {
  return RATE_SHARES.map((share) => ({
    share,
    get: bareSaturated.get.rps * share,
    post: bareSaturated.post.rps * share,
  }));
}

const dir = mkdtempSync(join(tmpdir(), 'arrakis-bench-api-'));
// Every child dies with this process, whatever the way out: the servers by forkBenchServer's 'exit' hook, a
// running autocannon or open-loop by this one. A signal must go through exit too.
process.once('exit', () => {
  loadGenerators.abort();
  rmSync(dir, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
  process.once(signal, () => process.exit(128 + constants.signals[signal]));
if (PROFILE_DIR !== undefined) mkdirSync(PROFILE_DIR, { recursive: true });
const servers: BenchServer[] = [];
try {
  // Both servers up at once, each in its own process, their phases interleaved (bare, then full, route by route).
  const bareServer = await forkBenchServer(join(import.meta.dirname, 'api-bare-server.ts'), [dir]);
  servers.push(bareServer);
  const fullServer = await forkBenchServer(join(import.meta.dirname, 'api-full-server.ts'), [dir]);
  servers.push(fullServer);
  const b: Routes = {
    get: await autocannon(bareServer, bareServer.get, 'bare-get'),
    post: SKIPPED,
    atRates: [],
  };
  const f: Routes = {
    get: await autocannon(fullServer, fullServer.get, 'full-get'),
    post: SKIPPED,
    atRates: [],
  };
  b.post = await autocannon(bareServer, bareServer.post, 'bare-post');
  f.post = await autocannon(fullServer, fullServer.post, 'full-post');
  // The fixed rates come from the bare server's saturated req/s, and are offered to both.
  const rates = ratesOf(b);
  const bareGc: GcSeen = { gc: NO_GC, heapUsedBytes: Number.NaN };
  const fullGc: GcSeen = { gc: NO_GC, heapUsedBytes: Number.NaN };
  for (const r of rates) {
    const bareGet = await atRate(bareServer, bareServer.get, r.get, bareGc);
    const fullGet = await atRate(fullServer, fullServer.get, r.get, fullGc);
    const barePost = await atRate(bareServer, bareServer.post, r.post, bareGc);
    const fullPost = await atRate(fullServer, fullServer.post, r.post, fullGc);
    b.atRates.push({ get: bareGet, post: barePost });
    f.atRates.push({ get: fullGet, post: fullPost });
  }
  await Promise.all(servers.splice(0).map((s) => s.close()));
  report(b, f, rates, { bare: bareGc, full: fullGc });
} finally {
  await Promise.all(servers.map((s) => s.close()));
}

/** Prints the report: the line formats are read by other tooling and docs, keep them. */
function report(b: Routes, f: Routes, rates: Rates[], gc: { bare: GcSeen; full: GcSeen }): void {
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
  for (const [name, seen] of Object.entries(gc)) {
    const g = seen.gc;
    console.log(
      `gc     ${name.padEnd(4)} over its fixed-rate windows: ${g.count} pauses (${g.major} mark-compact), total ${g.totalMs.toFixed(1)} ms, max ${g.maxMs.toFixed(1)} ms; heap used after ${(seen.heapUsedBytes / 1e6).toFixed(0)} MB (its own process)`,
    );
  }
}
