/**
 * Model affinity end to end with real processes: `arrakis serve` with N `arrakis comfy-lite` worker processes
 * (`--model-load-ms 2000`, the classic cache: one model held at a time) and two checkpoints; 40 jobs mixing
 * them at random (seeded), submitted at once by 4 users. Prints model loads (from serve's metrics), switches
 * (from the admin API) and the time until the last job ended, with affinity on (default 10 s bound) and off
 * (`--affinity-max-delay-s 0`).
 * Run: node --import tsx bench/affinity.ts [--workers 2,4] [--load-ms 2000] [--jobs 40]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { txt2img, writeModels } from '../test/support/models.js';

const BIN = new URL('../bin/arrakis.mjs', import.meta.url).pathname;
const ADMIN = 'bench-admin-key-0123456789';
const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] ?? dflt) : dflt;
};
const WORKERS = arg('--workers', '2,4').split(',').map(Number);
const LOAD_MS = Number(arg('--load-ms', '2000'));
const JOBS = Number(arg('--jobs', '40'));

const children: ChildProcess[] = [];

/** The fields this bench reads from API answers (a bench, not a client: trusted local server). */
interface Worker {
  models_available: string[];
  model_switches: number;
}
interface Reply {
  id: string;
  key: string;
  status: string;
  data: Worker[];
}

/** Spawns `arrakis ARGS` and resolves with the URL its ready line names. */
async function start(args: string[], ready: RegExp): Promise<string> {
  const proc = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(proc);
  let out = '';
  for await (const chunk of proc.stdout!) {
    out += String(chunk);
    const m = ready.exec(out);
    if (m?.[1] !== undefined) return m[1];
  }
  throw new Error(`arrakis ${args[0]} did not start: ${out}`);
}

async function stopAll(): Promise<void> {
  await Promise.all(
    children.splice(0).map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null) return resolve();
          c.once('exit', () => resolve());
          c.kill('SIGTERM');
        }),
    ),
  );
}

async function call(url: string, method: string, key: string, body?: unknown, user?: string): Promise<Reply> {
  const res = await fetch(url, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(user === undefined ? {} : { 'x-user-id': user }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return (await res.json()) as Reply;
}

/** A seeded coin: the same job mix in every scenario. */
function mix(n: number): string[] {
  let x = 12345;
  return Array.from({ length: n }, () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return ((x >> 16) & 1) === 0 ? 'A.safetensors' : 'B.safetensors';
  });
}

async function scenario(root: string, workers: number, affinityS: number): Promise<string> {
  const dir = await mkdtemp(join(root, 'run-'));
  const lites: string[] = [];
  for (let i = 0; i < workers; i++) {
    const liteArgs = ['comfy-lite', '--port', '0', '--models-dir', join(root, 'models')];
    lites.push(await start([...liteArgs, '--model-load-ms', String(LOAD_MS)], /listening on (http:\/\/\S+)/));
  }
  const serveArgs = [
    'serve',
    '--port',
    '0',
    '--db',
    `sqlite:${join(dir, 'a.db')}`,
    '--storage',
    `file:${dir}/o`,
  ];
  const url = await start(
    [
      ...serveArgs,
      '--admin-key',
      ADMIN,
      '--log-level',
      'silent',
      '--affinity-max-delay-s',
      String(affinityS),
    ].concat(lites.flatMap((l) => ['--comfyui', l])),
    /listening on (http:\/\/\S+)/,
  );
  const limits = { max_active_jobs_per_user: 100, submit_rate_per_user: 1000, submit_burst_per_user: 1000 };
  const account = await call(`${url}/v1/admin/accounts`, 'POST', ADMIN, { name: 'bench', limits });
  const key = (await call(`${url}/v1/admin/accounts/${account.id}/keys`, 'POST', ADMIN, { name: 'k' })).key;
  for (;;) {
    const ws = (await call(`${url}/v1/admin/workers`, 'GET', ADMIN)).data;
    if (ws.length === workers && ws.every((w) => w.models_available.length === 2)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const t0 = performance.now();
  const jobs = await Promise.all(
    mix(JOBS).map((ckpt, i) =>
      call(
        `${url}/v1/jobs`,
        'POST',
        key,
        { workflow: txt2img(ckpt, { steps: 4, secondsPerStep: 0.05 }) },
        `u${i % 4}`,
      ),
    ),
  );
  for (const [i, j] of jobs.entries()) {
    for (;;) {
      const s = await call(`${url}/v1/jobs/${j.id}`, 'GET', key, undefined, `u${i % 4}`);
      if (['completed', 'failed', 'cancelled'].includes(s.status)) {
        if (s.status !== 'completed') throw new Error(`job ${j.id} ended ${s.status}`);
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const metrics = await (await fetch(`${url}/metrics`)).text();
  const loads = Number(/arrakis_model_loads_total\{tier="disk"\} (\d+)/.exec(metrics)?.[1] ?? 0);
  const ws = (await call(`${url}/v1/admin/workers`, 'GET', ADMIN)).data;
  const switches = ws.reduce((s, w) => s + w.model_switches, 0);
  await stopAll();
  const mode = affinityS === 0 ? 'affinity off' : `affinity ${affinityS}s`;
  return `${String(workers).padStart(7)}  ${mode.padEnd(13)} ${String(loads).padStart(5)} ${String(switches).padStart(8)}  ${seconds.toFixed(1).padStart(7)}`;
}

const root = await mkdtemp(join(tmpdir(), 'bench-affinity-'));
try {
  await writeModels(join(root, 'models'), {
    'checkpoints/A.safetensors': 'a',
    'checkpoints/B.safetensors': 'b',
  });
  process.stdout.write(`${JOBS} jobs, 2 checkpoints, model load ${LOAD_MS} ms, sampling 4 × 50 ms\n`);
  process.stdout.write('workers  mode          loads switches  total s\n');
  for (const workers of WORKERS) {
    for (const affinity of [10, 0]) process.stdout.write(`${await scenario(root, workers, affinity)}\n`);
  }
} finally {
  await stopAll();
  await rm(root, { recursive: true, force: true });
}
