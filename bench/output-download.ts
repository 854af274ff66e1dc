/**
 * bench/output-download — what `GET /v1/jobs/{id}/outputs/{index}` costs for a just-finished job's small
 * output (a 64×64 PNG) on file: storage, as a client that heard `done` asks for it.
 *
 *   node --import tsx bench/output-download.ts [--jobs 100] [--gets 2000] [--cpu-prof FILE]
 *
 * Runs `--jobs` jobs on an in-process comfy-lite (Prefer: wait), then GETs their outputs round-robin `--gets`
 * times from this process and prints the latency percentiles. `--cpu-prof FILE` writes a CPU profile of the
 * GET phase only (read it with `node --import tsx bench/top-frames.ts FILE`).
 */
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startComfyLite } from '../src/comfy-lite/server.js';
import { loadConfig } from '../src/config/load.js';
import { startControlPlane } from '../src/runtime/control-plane.js';

const args = process.argv.slice(2);
const arg = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i < 0 ? undefined : args[i + 1];
};
const JOBS = Number(arg('--jobs') ?? 100) || 100;
const GETS = Number(arg('--gets') ?? 2000) || 2000;
const PROFILE = arg('--cpu-prof');
const ADMIN = 'bench-admin-key-0123456789';

const WORKFLOW = {
  '1': { class_type: 'EmptyImage', inputs: { width: 64, height: 64, batch_size: 1, color: 0x101010 } },
  '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
  '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'dl' } },
};

function pct(sorted: number[], p: number): string {
  return (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN).toFixed(2);
}

async function json<T>(res: Promise<Response>): Promise<T> {
  return (await (await res).json()) as T;
}

const dir = mkdtempSync(join(tmpdir(), 'arrakis-bench-download-'));
const lite = await startComfyLite({ port: 0, dataDir: join(dir, 'comfy') });
const config = loadConfig(
  {},
  {},
  {
    db: `sqlite:${join(dir, 'arrakis.db')}`,
    storage: `file:${join(dir, 'objects')}`,
    port: 0,
    adminKey: ADMIN,
    comfyui: [lite.url],
    logLevel: 'silent',
  },
);
const cp = await startControlPlane(config);
try {
  const admin = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
  const limits = { submit_rate_per_user: 10_000, submit_burst_per_user: 10_000 };
  const account = await json<{ id: string }>(
    fetch(`${cp.url}/v1/admin/accounts`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ name: 'bench', limits }),
    }),
  );
  const { key } = await json<{ key: string }>(
    fetch(`${cp.url}/v1/admin/accounts/${account.id}/keys`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ name: 'b' }),
    }),
  );
  const headers = {
    authorization: `Bearer ${key}`,
    'x-user-id': 'bench',
    'content-type': 'application/json',
  };
  const ids: string[] = [];
  for (let i = 0; i < JOBS; i++) {
    const job = await json<{ id: string; status: string }>(
      fetch(`${cp.url}/v1/jobs`, {
        method: 'POST',
        headers: { ...headers, prefer: 'wait=30' },
        body: JSON.stringify({ workflow: WORKFLOW }),
      }),
    );
    if (job.status !== 'completed') throw new Error(`job ${job.id} ${job.status}`);
    ids.push(job.id);
  }
  const session = PROFILE === undefined ? null : new Session();
  if (session !== null) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  const times: number[] = [];
  for (let i = 0; i < GETS; i++) {
    const t0 = performance.now();
    const res = await fetch(`${cp.url}/v1/jobs/${ids[i % ids.length]}/outputs/0`, { headers });
    if (res.status !== 200) throw new Error(`GET output answered ${res.status}`);
    await res.arrayBuffer();
    times.push(performance.now() - t0);
  }
  if (session !== null && PROFILE !== undefined) {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(PROFILE, JSON.stringify(profile));
  }
  times.sort((a, b) => a - b);
  console.log(
    `bench/output-download: ${GETS} GETs of ${JOBS} just-finished 64×64 PNG outputs (file: storage, SQLite)`,
  );
  console.log(
    `GET /v1/jobs/{id}/outputs/0   p50 ${pct(times, 50)} ms   p90 ${pct(times, 90)} ms   p99 ${pct(times, 99)} ms`,
  );
} finally {
  await cp.close();
  await lite.close();
  rmSync(dir, { recursive: true, force: true });
}
