/**
 * bench/dispatch — how close Arrakis stays to the floor, side by side on one comfy-lite.
 *
 *   node --import tsx bench/dispatch.ts [--runs 60] [--in-process]
 *
 * direct:  a protocol client POSTs the tiny workflow and downloads the output PNG (the floor).
 * arrakis: POST /v1/jobs → SSE until `done` (persist, admit, schedule, run, store outputs, complete).
 * Both talk to the same comfy-lite, run as its own process like a real ComfyUI (`--in-process` runs it
 * inside the bench instead, sharing one event loop with the control plane).
 * Also: queue wait of each job, and cancel latency = DELETE sent → interrupt received by comfy-lite
 * (measured on an in-process comfy-lite, whose interrupt event carries a timestamp on the same clock).
 * Both paths use a unique filename_prefix per run, so ComfyUI's cache never skips the save.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createComfyServer } from '../src/comfy/http-client.js';
import { startComfyLite } from '../src/comfy-lite/server.js';
import { loadConfig } from '../src/config/load.js';
import { startControlPlane } from '../src/runtime/control-plane.js';

const args = process.argv.slice(2);
const RUNS = Number(args[args.indexOf('--runs') + 1] ?? 60) || 60;
const ADMIN = 'bench-admin-key-0123456789';

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

async function waitDone(url: string, headers: Record<string, string>): Promise<void> {
  const res = await fetch(url, { headers });
  if (res.body === null) throw new Error('no SSE body');
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of res.body) {
    text += decoder.decode(chunk, { stream: true });
    if (text.includes('event: done')) break;
  }
  await res.body.cancel().catch(() => {});
}

/** `arrakis comfy-lite --port 0` as a child process; resolves with its URL. */
async function spawnComfyLite(): Promise<{ url: string; stop(): void }> {
  const bin = join(import.meta.dirname, '..', 'bin', 'arrakis.mjs');
  const proc = spawn(process.execPath, [bin, 'comfy-lite', '--port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return await new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (chunk: Buffer) => {
      out += String(chunk);
      const m = /comfy-lite listening on (http:\/\/\S+)/.exec(out);
      if (m?.[1] !== undefined) resolve({ url: m[1], stop: () => proc.kill('SIGTERM') });
    });
    proc.once('exit', () => reject(new Error(`comfy-lite exited: ${out}`)));
  });
}

const IN_PROCESS = args.includes('--in-process');
const dir = mkdtempSync(join(tmpdir(), 'arrakis-bench-dispatch-'));
const lite = await startComfyLite({ port: 0, dataDir: join(dir, 'comfy') });
const child = IN_PROCESS ? null : await spawnComfyLite();
const latencyUrl = child?.url ?? lite.url;
try {
  // The floor: a direct protocol client.
  const direct = createComfyServer(latencyUrl);
  const directMs: number[] = [];
  for (let i = 0; i < RUNS + 5; i++) {
    const t0 = performance.now();
    const outcome = await direct.runPrompt(workflow(`direct/${i}`), { promptId: crypto.randomUUID() });
    if (outcome.kind !== 'success') throw new Error(`direct run ${outcome.kind}`);
    for (const f of outcome.outputs) await direct.download(f);
    if (i >= 5) directMs.push(performance.now() - t0);
  }
  await direct.close();

  const config = loadConfig(
    {},
    {},
    {
      db: `sqlite:${join(dir, 'arrakis.db')}`,
      storage: `file:${join(dir, 'objects')}`,
      port: 0,
      adminKey: ADMIN,
      comfyui: [latencyUrl],
      logLevel: 'silent',
    },
  );
  let cp = await startControlPlane(config);
  const admin = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
  const acct = (await (
    await fetch(`${cp.url}/v1/admin/accounts`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({
        name: 'bench',
        limits: { submit_rate_per_user: 10_000, submit_burst_per_user: 10_000 },
      }),
    })
  ).json()) as { id: string };
  const { key } = (await (
    await fetch(`${cp.url}/v1/admin/accounts/${acct.id}/keys`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ name: 'b' }),
    })
  ).json()) as { key: string };
  const headers = {
    authorization: `Bearer ${key}`,
    'x-user-id': 'bench',
    'content-type': 'application/json',
  };
  await new Promise((r) => setTimeout(r, 300));

  const e2eMs: number[] = [];
  const waits: number[] = [];
  for (let i = 0; i < RUNS + 5; i++) {
    const t0 = performance.now();
    const res = await fetch(`${cp.url}/v1/jobs`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ workflow: workflow('out') }),
    });
    const job = (await res.json()) as { id: string };
    await waitDone(`${cp.url}/v1/jobs/${job.id}/events`, headers);
    const t1 = performance.now();
    const final = (await (await fetch(`${cp.url}/v1/jobs/${job.id}`, { headers })).json()) as {
      status: string;
      queue_wait_s: number;
    };
    if (final.status !== 'completed') throw new Error(`job ${job.id} ${final.status}`);
    if (i >= 5) {
      e2eMs.push(t1 - t0);
      waits.push(final.queue_wait_s * 1000);
    }
  }

  // Cancel latency: DELETE sent → comfy-lite receives the interrupt for that prompt (in-process comfy-lite).
  if (child !== null) {
    await cp.close();
    cp = await startControlPlane({ ...config, comfyui: [lite.url] });
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
  console.log(
    `bench/dispatch: ${RUNS} runs each, 64×64 invert on one comfy-lite (${IN_PROCESS ? 'in this process' : 'its own process'}), SQLite`,
  );
  console.log(
    `direct client  POST /prompt → PNG bytes    p50 ${f(pct(directMs, 50))} ms   p99 ${f(pct(directMs, 99))} ms`,
  );
  console.log(
    `arrakis        POST /v1/jobs → SSE done     p50 ${f(pct(e2eMs, 50))} ms   p99 ${f(pct(e2eMs, 99))} ms`,
  );
  console.log(
    `ratio p50 arrakis/direct = ${(pct(e2eMs, 50) / pct(directMs, 50)).toFixed(2)}   (target ≤ 1.5)`,
  );
  console.log(
    `queue wait     p50 ${f(pct(waits, 50))} ms   p99 ${f(pct(waits, 99))} ms   (target p99 ≤ 10 ms)`,
  );
  console.log(
    `cancel         DELETE → interrupt at comfy-lite   p50 ${f(pct(cancelMs, 50))} ms   p99 ${f(pct(cancelMs, 99))} ms   (target p99 ≤ 20 ms)`,
  );
} finally {
  await lite.close();
  child?.stop();
  rmSync(dir, { recursive: true, force: true });
}
