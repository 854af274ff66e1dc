/**
 * bench/dispatch — how close Arrakis stays to the floor, side by side on one comfy-lite.
 *
 *   node --import tsx bench/dispatch.ts [--runs 60] [--in-process] [--serve-in-process] [--prefer-wait] [--inline-outputs] [--trace]
 *                                       [--warmup 3000] [--profile-serve DIR] [--profile-agent DIR] [--bare-relay]
 *                                       [--serve-log-level info] [--postgres] [--remote-agent] [--compare DIR]
 *
 * direct:  a canonical ComfyUI protocol client (bench/dispatch-direct.ts, the way ComfyUI's own
 *          websockets_api_example.py does it: POST /prompt, wait for `executing` null on its open WebSocket,
 *          GET /history/{id}, GET /view) runs the tiny workflow and reads the output PNG: the floor. It shares
 *          no code with Arrakis's ComfyUI client (src/comfy), which the floor once was: then every gain in that
 *          client also lowered the floor and hid itself from the added time.
 * arrakis: POST /v1/jobs → SSE until `done` (persist, admit, schedule, run, store outputs, complete) → GET the
 *          output bytes from the URL the `done` event carries (no GET of the job). With `--prefer-wait`:
 *          POST /v1/jobs with `Prefer: wait=60` (one request answers with the ended job) → GET the output bytes.
 *          With `--inline-outputs`: `Prefer: wait=60, outputs=inline`, whose answer carries the output's bytes
 *          (base64, decoded): one request in all.
 * bare:    with `--bare-relay`, a third side: bench/dispatch-bare-relay.ts as its own process, the least a relay
 *          that stores outputs durably before `done` can do (one transaction in, the prompt sent, the output
 *          fetched at `executed`, fdatasync'd, one transaction out, `done` on the open stream), on the same
 *          client path: what any such control plane adds on this machine, to read Arrakis's added time against.
 * compare: with `--compare DIR`, a third side: `arrakis serve` of another checkout (DIR, e.g. a `git worktree`
 *          of the commit before a change, sharing this checkout's node_modules) on a database and storage of its
 *          own, with its in-process agent on the same comfy-lite, run the same way as the arrakis side. Its line
 *          `arrakis − compare` (median of the pairs' differences, with its interval) is an A/B of two versions
 *          within one run: on this shared machine runs of the same code differ by ±0.5 ms, more than most
 *          single changes, while the sides of one run share its load. Serve as its own process with its
 *          in-process agent, on SQLite or (`--postgres`) a database of its own on the same Postgres.
 * The sides run as interleaved pairs (every order of the sides in turn), so a load swing on the shared machine
 * hits both sides of a pair alike: the added time per job is the median of the pairs' differences, with a
 * distribution-free 95% interval (order statistics of the differences).
 * Both talk to the same comfy-lite, run as its own process like a real ComfyUI (`--in-process` runs it
 * inside the bench instead, sharing one event loop with the control plane). The control plane runs as
 * `arrakis serve` in its own process too, as in production, so the measuring client does not share its event
 * loop (`--serve-in-process` runs it inside the bench; `--trace` implies it, since the stage marks are read in
 * this process).
 * Topology: by default serve stores jobs in a SQLite file and runs them with its in-process agent (serve's
 * `ARRAKIS_COMFYUI`). Production runs differently, and two options (alone or together) measure that:
 * `--postgres` puts serve on Postgres (ARRAKIS_TEST_PG when set, else an embedded one started for the run; a
 * database of the run's own, dropped at the end); `--remote-agent` starts serve without in-process agents,
 * issues a worker token (POST /v1/admin/worker-tokens, written to a file in the run's folder) and runs
 * `arrakis agent --server … --token-file … --comfyui …` as its own process, as a GPU worker does: every job then
 * goes over the worker API (claim long-poll, progress, output upload, completion). Its CPU per job is a line of
 * its own. `--trace` cannot see a remote agent's stage marks, so it refuses `--remote-agent`. The first line
 * names the topology.
 * Also: the serve process's CPU per measured job (Linux, serve as its own process: every thread, from /proc),
 * with `--remote-agent` the agent process's too, queue wait of each job, and cancel latency = DELETE sent →
 * interrupt received by comfy-lite (measured on an in-process comfy-lite, whose interrupt event carries a
 * timestamp on the same clock; serve is restarted in this process for it, and with `--remote-agent` a new agent
 * process is put in front of that comfy-lite).
 * Both paths use a unique filename_prefix per run, so ComfyUI's cache never skips the save.
 * `--trace` adds, for each side, the median time of every stage since the run started (bench/dispatch-trace.ts:
 * the control plane's stage marks, every HTTP request of this process, the client's own steps). The marks cost
 * a little, so compare figures from runs without it. A CPU profile: `node --cpu-prof --import tsx bench/dispatch.ts`,
 * or of the serve process alone: `--profile-serve DIR` (of a `--remote-agent`'s process: `--profile-agent DIR`) (then bench/top-frames.ts on the .cpuprofile it writes).
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import { startComfyLite } from '../src/comfy-lite/server.js';
import { loadConfig } from '../src/config/load.js';
import { startControlPlane } from '../src/runtime/control-plane.js';
import { startPostgres } from '../test/support/postgres-server.js';
import { argValue, dropPgDatabase, freshPgDatabase } from './bench-args.js';
import { DirectComfyClient } from './dispatch-direct.js';
import {
  cpuSeconds,
  spawnAgent,
  spawnBareRelay,
  spawnComfyLite,
  spawnServe,
  type ChildProcess,
} from './dispatch-processes.js';
import { StageTrace } from './dispatch-trace.js';

const args = process.argv.slice(2);
const RUNS = Number(args[args.indexOf('--runs') + 1] ?? 60) || 60;
/**
 * Unmeasured pairs first: the figures are a long-running control plane's, and so are the direct client's and
 * comfy-lite's. V8 optimises a function called once per job only after hundreds to thousands of calls:
 * `--trace-opt` on serve shows TurboFan still compiling ~25 functions a second 200 jobs in, and only a few a
 * second after 2,000, and serve's CPU per job falls from ~12 ms to 6 – 8 ms over that span. So the default is
 * 3,000 pairs; the `warm-up` line gives the added time and serve's CPU per job in blocks of them, which is what
 * the first jobs after a (re)start cost. `--warmup 5` shows a cold start.
 */
const WARMUP = Math.max(1, Number(argValue('--warmup') ?? 3000) || 3000);
/** The warm-up's blocks for its line: pairs [from, to), those that fit in WARMUP. */
const WARMUP_BLOCKS = [0, 100, 300, 1000, 2000, 3000, 6000, 12000]
  .filter((n) => n < WARMUP)
  .map((from, k, all) => ({ from, to: Math.min(all[k + 1] ?? WARMUP, WARMUP) }));
const ADMIN = 'bench-admin-key-0123456789';
const BARE_KEY = 'bench-bare-relay-key-0123456789';

function workflow(
  prefix: string,
  delay?: number,
): Record<string, { class_type: string; inputs: Record<string, unknown> }> {
  const wf: Record<string, { class_type: string; inputs: Record<string, unknown> }> = {
    '1': { class_type: 'EmptyImage', inputs: { width: 64, height: 64, batch_size: 1, color: 0x101010 } },
    '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
    '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: prefix } },
  };
  if (delay !== undefined) {
    wf['4'] = { class_type: 'ArrakisDelay', inputs: { image: ['2', 0], seconds: delay } };
    wf['3'] = { class_type: 'SaveImage', inputs: { images: ['4', 0], filename_prefix: prefix } };
  }
  return wf;
}

function pct(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** Every order of 0 … n − 1 (n! of them; n is 2 or 3 here). */
function permutations(n: number): number[][] {
  if (n <= 1) return [[0]];
  return permutations(n - 1).flatMap((rest) =>
    Array.from({ length: n }, (_, at) => [...rest.slice(0, at), n - 1, ...rest.slice(at)]),
  );
}

/** Reads the job's event stream until `done`; returns the done event's data. */
async function waitDone(
  url: string,
  headers: Record<string, string>,
): Promise<{ status: string; outputs?: Array<{ url: string; data?: string }> }> {
  const res = await fetch(url, { headers });
  if (res.body === null) throw new Error('no SSE body');
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of res.body) {
    text += decoder.decode(chunk, { stream: true });
    const m = /event: done\ndata: (.*)\n\n/.exec(text);
    if (m?.[1] !== undefined) {
      await res.body.cancel().catch(() => {});
      return JSON.parse(m[1]) as { status: string; outputs?: Array<{ url: string }> };
    }
  }
  throw new Error('the stream ended without done');
}

/** The median of `values` and its 95% interval from order statistics (normal approximation of the ranks). */
function medianWithInterval(values: number[]): { median: number; lo: number; hi: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  const half = 0.98 * Math.sqrt(n);
  const at = (rank: number): number => sorted[Math.min(n - 1, Math.max(0, rank))] ?? NaN;
  return { median: pct(values, 50), lo: at(Math.floor(n / 2 - half)), hi: at(Math.ceil(n / 2 + half) - 1) };
}

/** Arrakis as the bench runs it: serve's URL and process, the agent process with `--remote-agent`. */
interface Arrakis {
  url: string;
  pid: number | undefined;
  agentPid: number | undefined;
  /** Stops the agent (it gives its job back), then serve. */
  close(): Promise<void>;
}

/** `POST /v1/admin/worker-tokens` on `base`; resolves with the token (shown only in this answer). */
async function issueWorkerToken(base: string, admin: Record<string, string>): Promise<string> {
  const res = await fetch(`${base}/v1/admin/worker-tokens`, {
    method: 'POST',
    headers: admin,
    body: JSON.stringify({ name: 'bench-agent' }),
  });
  if (res.status !== 201) throw new Error(`worker token: HTTP ${res.status} ${await res.text()}`);
  return z.object({ token: z.string() }).parse(await res.json()).token;
}

/** Resolves once `GET /v1/admin/workers` on `base` lists remote worker `workerId` (10 s at most). */
async function waitAttached(base: string, admin: Record<string, string>, workerId: string): Promise<void> {
  const list = z.object({ data: z.array(z.object({ id: z.string(), kind: z.string() })) });
  for (const until = Date.now() + 10_000; Date.now() < until;) {
    const res = await fetch(`${base}/v1/admin/workers`, { headers: admin });
    const { data } = list.parse(await res.json());
    if (data.some((w) => w.id === workerId && w.kind === 'remote')) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`agent ${workerId} registered but is not among serve's workers after 10 s`);
}

const IN_PROCESS = args.includes('--in-process');
/** The control plane in this process (needed for `--trace`, whose stage marks are this process's). */
const SERVE_IN_PROCESS = args.includes('--serve-in-process') || args.includes('--trace');
/** `Prefer: wait=60, outputs=inline`: the answer carries the output's bytes (implies --prefer-wait). */
const INLINE_OUTPUTS = args.includes('--inline-outputs');
const PREFER_WAIT = args.includes('--prefer-wait') || INLINE_OUTPUTS;
/** Serve on Postgres (ARRAKIS_TEST_PG, else an embedded one for the run) instead of a SQLite file. */
const POSTGRES = args.includes('--postgres');
/** Serve without in-process agents; an `arrakis agent` process runs the jobs over the worker API. */
const REMOTE_AGENT = args.includes('--remote-agent');
if (REMOTE_AGENT && args.includes('--trace')) {
  console.error(
    'bench/dispatch: --trace reads the stage marks of the control plane and its agent in this process; with ' +
      '--remote-agent the agent is a process of its own, whose marks it cannot see. Run --trace without --remote-agent.',
  );
  process.exit(2);
}
/**
 * Serve's and the agent's log level. Production runs at `info` (four or five lines per job, to a pipe of this
 * process); the figures are taken without.
 */
const SERVE_LOG_LEVEL = argValue('--serve-log-level') ?? 'silent';
const COMPARE = argValue('--compare');
if (COMPARE !== undefined) {
  const clash = ['--bare-relay', '--remote-agent', '--serve-in-process', '--trace'].find((flag) =>
    args.includes(flag),
  );
  if (clash !== undefined)
    throw new Error(`--compare runs serve as its own process with its in-process agent: drop ${clash}`);
  if (!existsSync(join(COMPARE, 'bin', 'arrakis.mjs'))) {
    throw new Error(`--compare ${COMPARE}: no bin/arrakis.mjs there (give a checkout of Arrakis)`);
  }
}
const trace = args.includes('--trace') ? new StageTrace() : null;
const dir = mkdtempSync(join(tmpdir(), 'arrakis-bench-dispatch-'));
const lite = await startComfyLite({ port: 0, dataDir: join(dir, 'comfy') });
const child = IN_PROCESS ? null : await spawnComfyLite();
const latencyUrl = child?.ready ?? lite.url;
const bare = args.includes('--bare-relay') ? await spawnBareRelay(latencyUrl, dir, BARE_KEY) : null;
const pgServer = POSTGRES ? await startPostgres() : null;
const PG_DATABASE = `arrakis_bench_dispatch_${process.pid}`;
/** The compared checkout's database: its own file, or its own database on the same Postgres. */
const PG_COMPARE_DATABASE = `${PG_DATABASE}_compare`;
/** Arrakis as started below, until closed: what the `finally` stops if the run fails. */
const running = new Set<Arrakis>();
let compare: ChildProcess | null = null;
try {
  if (COMPARE !== undefined) {
    compare = await spawnServe({
      bin: join(resolve(COMPARE), 'bin', 'arrakis.mjs'),
      db:
        pgServer === null
          ? `sqlite:${join(dir, 'compare.db')}`
          : await freshPgDatabase(pgServer.adminUrl, PG_COMPARE_DATABASE),
      storage: `file:${join(dir, 'objects-compare')}`,
      comfyui: [latencyUrl],
      adminKey: ADMIN,
      logLevel: SERVE_LOG_LEVEL,
    });
  }
  // The floor: a canonical protocol client with its socket kept open across runs.
  const direct = new DirectComfyClient(latencyUrl, (stage) => trace?.mark(stage));
  await direct.connect();
  const runDirect = async (i: number): Promise<number> => {
    const t0 = performance.now();
    // A folder of each run's own, as Arrakis gives each job (`arrakis/<job id>/…`): a saver lists its folder
    // to number the file (ComfyUI's get_save_image_path), so a folder shared by every run costs more each run.
    await direct.run(workflow(`direct/${i}/out`));
    trace?.mark('client: output bytes read');
    return performance.now() - t0;
  };

  const config = loadConfig(
    {},
    {},
    {
      db:
        pgServer === null
          ? `sqlite:${join(dir, 'arrakis.db')}`
          : await freshPgDatabase(pgServer.adminUrl, PG_DATABASE),
      storage: `file:${join(dir, 'objects')}`,
      port: 0,
      adminKey: ADMIN,
      comfyui: [],
      logLevel: 'silent',
    },
  );
  const admin = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
  const tokenFile = join(dir, 'worker-token');
  /**
   * Arrakis in front of `comfyUrl`: serve (its own process, or this one) with an in-process agent, or with
   * `--remote-agent` serve alone and an `arrakis agent` process attached to it over the worker API (its token
   * issued once and kept in the run's folder: a serve restarted on the same database accepts it again).
   */
  const startArrakis = async (comfyUrl: string, inProcess: boolean): Promise<Arrakis> => {
    const comfyui = REMOTE_AGENT ? [] : [comfyUrl];
    const cp: { url: string; pid?: number | undefined; close(): Promise<void> } = inProcess
      ? await startControlPlane({ ...config, comfyui })
      : await spawnServe({
          db: config.db,
          storage: config.storage,
          comfyui,
          adminKey: ADMIN,
          logLevel: SERVE_LOG_LEVEL,
          profileDir: argValue('--profile-serve'),
        }).then((s) => ({ url: s.ready, pid: s.pid, close: s.close }));
    let agent: ChildProcess | null = null;
    try {
      if (REMOTE_AGENT) {
        if (!existsSync(tokenFile)) {
          writeFileSync(tokenFile, await issueWorkerToken(cp.url, admin), { mode: 0o600 });
        }
        agent = await spawnAgent({
          server: cp.url,
          tokenFile,
          comfyui: comfyUrl,
          logLevel: SERVE_LOG_LEVEL,
          profileDir: argValue('--profile-agent'),
        });
        await waitAttached(cp.url, admin, agent.ready);
      }
    } catch (err) {
      await cp.close();
      throw err;
    }
    const started: Arrakis = {
      url: cp.url,
      pid: cp.pid,
      agentPid: agent?.pid,
      close: async () => {
        running.delete(started);
        await agent?.close();
        await cp.close();
      },
    };
    running.add(started);
    return started;
  };
  let cp = await startArrakis(latencyUrl, SERVE_IN_PROCESS);
  /** A bench account on the serve at `url` (submit rate limits out of the way) and its key's headers. */
  const benchHeaders = async (url: string): Promise<Record<string, string>> => {
    const acct = (await (
      await fetch(`${url}/v1/admin/accounts`, {
        method: 'POST',
        headers: admin,
        body: JSON.stringify({
          name: 'bench',
          limits: { submit_rate_per_user: 10_000, submit_burst_per_user: 10_000 },
        }),
      })
    ).json()) as { id: string };
    const { key } = (await (
      await fetch(`${url}/v1/admin/accounts/${acct.id}/keys`, {
        method: 'POST',
        headers: admin,
        body: JSON.stringify({ name: 'b' }),
      })
    ).json()) as { key: string };
    return { authorization: `Bearer ${key}`, 'x-user-id': 'bench', 'content-type': 'application/json' };
  };
  const headers = await benchHeaders(cp.url);
  const compareHeaders = compare === null ? null : await benchHeaders(compare.ready);
  await new Promise((r) => setTimeout(r, 300));

  /** Outputs whose bytes came inside the answer (`--inline-outputs`), not from a GET of their URL. */
  let inlined = 0;
  /** Submit → `done` (SSE, or the `Prefer: wait` answer) → the output bytes, on Arrakis or the bare relay. */
  const runJob = async (
    base: string,
    jobHeaders: Record<string, string>,
    wait: boolean,
    prefix = 'out',
  ): Promise<{ ms: number; id: string }> => {
    const t0 = performance.now();
    const res = await fetch(`${base}/v1/jobs`, {
      method: 'POST',
      headers: wait
        ? { ...jobHeaders, prefer: INLINE_OUTPUTS ? 'wait=60, outputs=inline' : 'wait=60' }
        : jobHeaders,
      body: JSON.stringify({ workflow: workflow(prefix) }),
    });
    const job = (await res.json()) as {
      id: string;
      status: string;
      outputs?: Array<{ url: string; data?: string }>;
    };
    trace?.mark('client: submit answer parsed');
    const done = wait ? job : await waitDone(`${base}/v1/jobs/${job.id}/events`, jobHeaders);
    trace?.mark('client: done parsed');
    if (done.status !== 'completed') throw new Error(`job ${job.id} ${done.status}`);
    for (const o of done.outputs ?? []) {
      if (o.data !== undefined) {
        Buffer.from(o.data, 'base64');
        inlined += 1;
      } else await (await fetch(new URL(o.url, base), { headers: jobHeaders })).arrayBuffer();
    }
    trace?.mark('client: output bytes read');
    return { ms: performance.now() - t0, id: job.id };
  };
  const runArrakis = (): Promise<{ ms: number; id: string }> => runJob(cp.url, headers, PREFER_WAIT);
  const bareHeaders = { ...headers, authorization: `Bearer ${BARE_KEY}` };
  // The bare relay sends the prompt as it came: a folder of each run's own, like the other two sides.
  const runBare = async (i: number): Promise<number> =>
    bare === null ? Number.NaN : (await runJob(bare.ready, bareHeaders, false, `bare/${i}/out`)).ms;
  const runCompare = async (): Promise<number> =>
    compare === null || compareHeaders === null
      ? Number.NaN
      : (await runJob(compare.ready, compareHeaders, PREFER_WAIT)).ms;

  const directMs: number[] = [];
  const e2eMs: number[] = [];
  const pairs: number[] = [];
  const bareMs: number[] = [];
  const barePairs: number[] = [];
  const compareMs: number[] = [];
  const comparePairs: number[] = [];
  let compareCpuAtStart: number | null = null;
  const jobIds: string[] = [];
  let serveCpuAtStart: number | null = null;
  let bareCpuAtStart: number | null = null;
  let agentCpuAtStart: number | null = null;
  const warmupPairs: number[] = [];
  const warmupDirect: number[] = [];
  const warmupCpu: (number | null)[] = [];
  for (let i = 0; i < RUNS + WARMUP; i++) {
    if (WARMUP_BLOCKS.some((b) => b.from === i) || i === WARMUP) warmupCpu.push(cpuSeconds(cp.pid));
    if (i === WARMUP) {
      serveCpuAtStart = cpuSeconds(cp.pid);
      bareCpuAtStart = bare === null ? null : cpuSeconds(bare.pid);
      compareCpuAtStart = compare === null ? null : cpuSeconds(compare.pid);
      agentCpuAtStart = cpuSeconds(cp.agentPid);
    }
    // Every order of the sides in turn, so each side goes first, and runs right after each other side's work,
    // equally often (a rotation of three sides would put one right after another in two pairs of three).
    let d = Number.NaN;
    let a: { ms: number; id: string } = { ms: Number.NaN, id: '' };
    let b = Number.NaN;
    let c = Number.NaN;
    const traced = async <T>(kind: string, run: () => Promise<T>): Promise<T> => {
      trace?.begin();
      const result = await run();
      trace?.end(kind, i >= WARMUP);
      return result;
    };
    const sides = [
      async () => {
        d = await traced('direct', () => runDirect(i));
      },
      async () => {
        a = await traced('arrakis', runArrakis);
      },
      ...(bare === null ? [] : [async () => void (b = await traced('bare', () => runBare(i)))]),
      ...(compare === null ? [] : [async () => void (c = await runCompare())]),
    ];
    const orders = permutations(sides.length);
    for (const k of orders[i % orders.length] ?? []) await sides[k]?.();
    if (i < WARMUP) {
      warmupPairs.push(a.ms - d);
      warmupDirect.push(d);
      continue;
    }
    directMs.push(d);
    e2eMs.push(a.ms);
    pairs.push(a.ms - d);
    jobIds.push(a.id);
    if (bare !== null) {
      bareMs.push(b);
      barePairs.push(b - d);
    }
    if (compare !== null) {
      compareMs.push(c);
      comparePairs.push(c - d);
    }
  }
  const compareCpuAtEnd = compare === null ? null : cpuSeconds(compare.pid);
  const serveCpuAtEnd = cpuSeconds(cp.pid);
  const bareCpuAtEnd = bare === null ? null : cpuSeconds(bare.pid);
  const agentCpuAtEnd = cpuSeconds(cp.agentPid);
  direct.close();
  const waits: number[] = [];
  for (const id of jobIds) {
    const final = (await (await fetch(`${cp.url}/v1/jobs/${id}`, { headers })).json()) as {
      queue_wait_s: number;
    };
    waits.push(final.queue_wait_s * 1000);
  }

  // Cancel latency: DELETE sent → comfy-lite receives the interrupt for that prompt (in-process comfy-lite;
  // with `--remote-agent` through an agent process in front of it).
  if (child !== null) {
    await cp.close();
    cp = await startArrakis(lite.url, true);
  }
  const cancelMs: number[] = [];
  for (let i = 0; i < 20; i++) {
    const res = await fetch(`${cp.url}/v1/jobs`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ workflow: workflow('c', 30) }),
    });
    const job = (await res.json()) as { id: string };
    for (;;) {
      const j = (await (await fetch(`${cp.url}/v1/jobs/${job.id}`, { headers })).json()) as {
        progress: unknown;
        status: string;
      };
      if (j.progress !== null) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    const seen = new Promise<number>((resolve) => {
      const on = (e: { promptId: string | null; at: number }): void => {
        if (e.promptId === job.id) {
          lite.events.off('interrupt', on);
          resolve(e.at);
        }
      };
      lite.events.on('interrupt', on);
    });
    const t0 = performance.now();
    await fetch(`${cp.url}/v1/jobs/${job.id}`, { method: 'DELETE', headers });
    cancelMs.push((await seen) - t0);
    for (;;) {
      const j = (await (await fetch(`${cp.url}/v1/jobs/${job.id}`, { headers })).json()) as {
        status: string;
      };
      if (j.status === 'cancelled') break;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  await cp.close();

  const f = (n: number): string => n.toFixed(1).padStart(7);
  const added = medianWithInterval(pairs);
  console.log(
    `bench/dispatch: ${RUNS} interleaved pairs after ${WARMUP} unmeasured, 64×64 invert on one comfy-lite (${IN_PROCESS ? 'in this process' : 'its own process'}), serve ${SERVE_IN_PROCESS ? 'in this process' : 'as its own process'} on ${POSTGRES ? 'Postgres' : 'SQLite'}, ${REMOTE_AGENT ? 'a remote agent (arrakis agent, its own process, over the worker API)' : 'its in-process agent'}, ${INLINE_OUTPUTS ? `Prefer: wait, outputs=inline (${inlined} outputs came inside the answer)` : PREFER_WAIT ? 'Prefer: wait' : 'SSE'}`,
  );
  console.log(
    `direct client  POST /prompt → PNG bytes               p50 ${f(pct(directMs, 50))} ms   p99 ${f(pct(directMs, 99))} ms`,
  );
  console.log(
    `arrakis        POST /v1/jobs → ${PREFER_WAIT ? 'answer (wait) ' : 'SSE done     '} → PNG bytes   p50 ${f(pct(e2eMs, 50))} ms   p99 ${f(pct(e2eMs, 99))} ms`,
  );
  console.log(
    `added per job  median of pairs ${added.median.toFixed(2)} ms   95% interval [${added.lo.toFixed(2)}, ${added.hi.toFixed(2)}] ms   (target ≤ 5 ms)`,
  );
  if (bare !== null) {
    const bareAdded = medianWithInterval(barePairs);
    console.log(
      `bare relay     POST /v1/jobs → SSE done      → PNG bytes   p50 ${f(pct(bareMs, 50))} ms   p99 ${f(pct(bareMs, 99))} ms`,
    );
    console.log(
      `bare added     median of pairs ${bareAdded.median.toFixed(2)} ms   95% interval [${bareAdded.lo.toFixed(2)}, ${bareAdded.hi.toFixed(2)}] ms   ratio bare/direct p50 ${(pct(bareMs, 50) / pct(directMs, 50)).toFixed(2)}`,
    );
    const overBare = medianWithInterval(e2eMs.map((ms, k) => ms - (bareMs[k] ?? Number.NaN)));
    console.log(
      `arrakis − bare median of pairs ${overBare.median.toFixed(2)} ms   95% interval [${overBare.lo.toFixed(2)}, ${overBare.hi.toFixed(2)}] ms`,
    );
  }
  if (compare !== null) {
    const compareAdded = medianWithInterval(comparePairs);
    console.log(
      `compare        ${COMPARE} (the same path)   p50 ${f(pct(compareMs, 50))} ms   p99 ${f(pct(compareMs, 99))} ms`,
    );
    console.log(
      `compare added  median of pairs ${compareAdded.median.toFixed(2)} ms   95% interval [${compareAdded.lo.toFixed(2)}, ${compareAdded.hi.toFixed(2)}] ms   ratio compare/direct p50 ${(pct(compareMs, 50) / pct(directMs, 50)).toFixed(2)}`,
    );
    const overCompare = medianWithInterval(e2eMs.map((ms, k) => ms - (compareMs[k] ?? Number.NaN)));
    console.log(
      `arrakis − compare median of pairs ${overCompare.median.toFixed(2)} ms   95% interval [${overCompare.lo.toFixed(2)}, ${overCompare.hi.toFixed(2)}] ms   (negative: this checkout is faster)`,
    );
  }
  const warmupLine = WARMUP_BLOCKS.map((b, k) => {
    const cpuFrom = warmupCpu[k];
    const cpuTo = warmupCpu[k + 1];
    const cpu =
      cpuFrom === null || cpuFrom === undefined || cpuTo === null || cpuTo === undefined
        ? ''
        : `, serve CPU/job ${(((cpuTo - cpuFrom) * 1000) / (b.to - b.from)).toFixed(1)}`;
    const block = (values: number[]): string => pct(values.slice(b.from, b.to), 50).toFixed(2);
    return `${b.from + 1}–${b.to}: ${block(warmupPairs)} (direct p50 ${block(warmupDirect)}${cpu})`;
  });
  if (warmupLine.length > 1) {
    console.log(`warm-up        added per job (median of pairs), ms, by pairs: ${warmupLine.join('; ')}`);
  }
  console.log(
    `ratio arrakis/direct   p50 ${(pct(e2eMs, 50) / pct(directMs, 50)).toFixed(2)} (target ≤ 1.5)   p99 ${(pct(e2eMs, 99) / pct(directMs, 99)).toFixed(2)}`,
  );
  console.log(
    `queue wait     p50 ${f(pct(waits, 50))} ms   p99 ${f(pct(waits, 99))} ms   (target p99 ≤ 10 ms)`,
  );
  if (serveCpuAtStart !== null && serveCpuAtEnd !== null) {
    // Per measured pair: the serve process is all but idle during the direct half of a pair.
    console.log(
      `serve CPU      ${(((serveCpuAtEnd - serveCpuAtStart) * 1000) / RUNS).toFixed(1)} ms per job (all its threads, from /proc)`,
    );
  }
  if (agentCpuAtStart !== null && agentCpuAtEnd !== null) {
    console.log(
      `agent CPU      ${(((agentCpuAtEnd - agentCpuAtStart) * 1000) / RUNS).toFixed(1)} ms per job (the arrakis agent process, all its threads)`,
    );
  }
  if (compareCpuAtStart !== null && compareCpuAtEnd !== null) {
    console.log(
      `compare CPU    ${(((compareCpuAtEnd - compareCpuAtStart) * 1000) / RUNS).toFixed(1)} ms per job (the compared checkout's serve, all its threads)`,
    );
  }
  if (bareCpuAtStart !== null && bareCpuAtEnd !== null) {
    console.log(
      `bare CPU       ${(((bareCpuAtEnd - bareCpuAtStart) * 1000) / RUNS).toFixed(1)} ms per job (the bare relay's process)`,
    );
  }
  console.log(
    `cancel         DELETE → interrupt at comfy-lite   p50 ${f(pct(cancelMs, 50))} ms   p99 ${f(pct(cancelMs, 99))} ms   (target p99 ≤ 20 ms)`,
  );
  if (trace !== null) {
    console.log(trace.report('direct'));
    console.log(trace.report('arrakis'));
    if (bare !== null) console.log(trace.report('bare'));
  }
} finally {
  for (const arrakis of [...running]) await arrakis.close();
  await lite.close();
  await child?.close();
  await bare?.close();
  await compare?.close();
  if (pgServer !== null) {
    await dropPgDatabase(pgServer.adminUrl, PG_DATABASE);
    if (COMPARE !== undefined) await dropPgDatabase(pgServer.adminUrl, PG_COMPARE_DATABASE);
    await pgServer.stop();
  }
  rmSync(dir, { recursive: true, force: true });
}
