/**
 * bench/comfy-http — the client CPU of the two ComfyUI calls every job makes (POST /prompt with a small JSON
 * workflow, GET /view of a ~4 KB PNG), through src/comfy/http.ts (undici `request`) and through undici `fetch`
 * the way that file used it before, alternating rounds so a load swing on the shared machine hits both alike.
 *
 *   node --import tsx bench/comfy-http.ts [--calls 2000] [--rounds 6]
 *
 * The peer is a bare node:http server in a child process, so this process's CPU time is the client's alone.
 * Prints, per client, the median over rounds of CPU µs per call pair and wall ms per call pair.
 */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { Agent, fetch } from 'undici';
import { ComfyHttp, expectOk } from '../src/comfy/http.js';
import { promptAcceptedSchema } from '../src/comfy/schemas.js';
import { argValue } from './bench-args.js';

const CALLS = Number(argValue('--calls') ?? 2000) || 2000;
const ROUNDS = Number(argValue('--rounds') ?? 6) || 6;

const PEER = `
const http = require('node:http');
const png = Buffer.alloc(4096, 7);
const answer = JSON.stringify({ prompt_id: 'p-1', number: 1, node_errors: {} });
http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    if (req.url.startsWith('/view')) {
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': png.length }).end(png);
    } else {
      res.writeHead(200, { 'content-type': 'application/json' }).end(answer);
    }
  });
}).listen(0, '127.0.0.1', function () { process.stdout.write(this.address().port + '\\n'); });
`;

/** A workflow about the size of the dispatch bench's (a few nodes, a few hundred bytes of JSON). */
const workflow = {
  '1': { class_type: 'EmptyImage', inputs: { width: 64, height: 64, batch_size: 1, color: 0 } },
  '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
  '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'bench/run-0001' } },
};
const view = { filename: 'run-0001_00001_.png', subfolder: 'bench', type: 'output' };

type Pair = () => Promise<void>;

function viaComfyHttp(http: ComfyHttp): Pair {
  return async () => {
    const submitted = await http.request('prompt', {
      method: 'POST',
      json: { prompt: workflow, client_id: 'bench', prompt_id: 'p-1' },
    });
    await expectOk(submitted, 'POST /prompt');
    await http.readJson(submitted, promptAcceptedSchema, 'POST /prompt');
    const file = await http.request('view', { query: view });
    await expectOk(file, 'GET /view');
    await http.readBytes(file, 'GET /view');
  };
}

/** What src/comfy/http.ts did before: undici fetch with a timeout signal, Response bodies. */
function viaFetch(base: string, agent: Agent): Pair {
  return async () => {
    const submitted = await fetch(`${base}/prompt`, {
      method: 'POST',
      dispatcher: agent,
      signal: AbortSignal.timeout(30_000),
      body: JSON.stringify({ prompt: workflow, client_id: 'bench', prompt_id: 'p-1' }),
      headers: { 'content-type': 'application/json' },
    });
    promptAcceptedSchema.parse(await submitted.json());
    const url = new URL(`${base}/view`);
    for (const [k, v] of Object.entries(view)) url.searchParams.set(k, v);
    const file = await fetch(url, { dispatcher: agent, signal: AbortSignal.timeout(30_000) });
    Buffer.from(await file.arrayBuffer());
  };
}

async function measure(pair: Pair): Promise<{ cpuUs: number; wallMs: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < CALLS; i++) await pair();
  const cpu = process.cpuUsage(cpu0);
  return { cpuUs: (cpu.user + cpu.system) / CALLS, wallMs: (performance.now() - t0) / CALLS };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

const peer = spawn(process.execPath, ['-e', PEER], { stdio: ['ignore', 'pipe', 'inherit'] });
const port = await new Promise<string>((resolve) =>
  peer.stdout.once('data', (d: Buffer) => resolve(d.toString().trim())),
);
const base = `http://127.0.0.1:${port}`;
const http = new ComfyHttp(base, 30_000);
const agent = new Agent({ keepAliveTimeout: 4_000, connections: 16 });
const clients: Record<string, Pair> = {
  'undici request (ComfyHttp)': viaComfyHttp(http),
  'undici fetch': viaFetch(base, agent),
};
const results = new Map<string, { cpuUs: number[]; wallMs: number[] }>();
try {
  for (const pair of Object.values(clients)) await measure(pair); // warm-up (JIT, connections)
  for (let round = 0; round < ROUNDS; round++) {
    const names = Object.keys(clients);
    if (round % 2 === 1) names.reverse();
    for (const name of names) {
      const r = await measure(clients[name]!);
      const acc = results.get(name) ?? { cpuUs: [], wallMs: [] };
      acc.cpuUs.push(r.cpuUs);
      acc.wallMs.push(r.wallMs);
      results.set(name, acc);
    }
  }
} finally {
  await http.close();
  await agent.destroy();
  peer.kill();
}
console.log(
  `bench/comfy-http: POST /prompt + GET /view (4 KB), ${CALLS} pairs × ${ROUNDS} rounds, client CPU only`,
);
for (const [name, r] of results) {
  console.log(
    `${name.padEnd(28)} CPU ${median(r.cpuUs).toFixed(0).padStart(5)} µs/pair   wall ${median(r.wallMs).toFixed(3)} ms/pair`,
  );
}
