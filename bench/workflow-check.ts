/**
 * Workflow checks at 5k / 10k / 40k nodes: the pure checks (size bound, structure + cycles on the worst shape
 * for the old quadratic check), then POST /v1/jobs to a real control plane in a child process (so the client's
 * work does not share its event loop) with /healthz probed concurrently.
 * Run: node --import tsx bench/workflow-check.ts   Prints one line per measurement.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseNodeDefinitions } from '../src/comfy/node-definitions.js';
import { convertUiWorkflow } from '../src/comfy/ui-convert.js';
import { checkWorkflow, DEFAULT_WORKFLOW_LIMITS, workflowSizeProblem } from '../src/comfy/workflow-check.js';
import { createTenant, startTestServer } from '../test/support/server.js';

const SIZES = [5_000, 10_000, 40_000];

/** Every node links to the one before and to the last: one back edge per DFS step (the old check's worst case). */
function backLinkedRing(n: number): Record<string, unknown> {
  const last = String(n - 1);
  const w: Record<string, unknown> = { '0': { class_type: 'A', inputs: { loop: [last, 0] } } };
  for (let i = 1; i < n; i++)
    w[String(i)] = { class_type: 'A', inputs: { x: [String(i - 1), 0], loop: [last, 0] } };
  return w;
}

function chain(n: number): Record<string, unknown> {
  const w: Record<string, unknown> = {
    '0': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
  };
  for (let i = 1; i < n; i++)
    w[String(i)] = { class_type: 'ImageInvert', inputs: { image: [String(i - 1), 0] } };
  return w;
}

function time<T>(run: () => T): [T, number] {
  const started = performance.now();
  const value = run();
  return [value, performance.now() - started];
}

function pureChecks(): void {
  for (const n of SIZES) {
    const ring = backLinkedRing(n);
    const [, sizeMs] = time(() => workflowSizeProblem(ring, DEFAULT_WORKFLOW_LIMITS));
    const [problems, checkMs] = time(() => checkWorkflow(ring));
    console.log(
      `pure  ${String(n).padStart(6)} nodes: size bound ${sizeMs.toFixed(2)} ms; ` +
        `structure + cycles (unbounded) ${checkMs.toFixed(1)} ms, ${problems.length} nodes on cycles`,
    );
  }
}

/** UI-format conversion at the bounds: 5k readers of a 15k-Reroute chain; 5k loaders over a 10k-model list. */
function uiConversion(): void {
  const models = Array.from({ length: 10_000 }, (_, i) => `m${i}.safetensors`);
  const definitions = parseNodeDefinitions({
    EmptyImage: { input: { required: { width: ['INT', {}] } }, output: ['IMAGE'] },
    SaveImage: { input: { required: { images: ['IMAGE'], filename_prefix: ['STRING', {}] } }, output: [] },
    CheckpointLoaderSimple: {
      input: { required: { ckpt_name: [models] } },
      output: ['MODEL', 'CLIP', 'VAE'],
    },
  });
  const reroutes = 15_000;
  const nodes: unknown[] = [{ id: 1, type: 'EmptyImage', widgets_values: [8] }];
  const links: unknown[] = [];
  for (let i = 0; i < reroutes; i++) {
    nodes.push({ id: 10 + i, type: 'Reroute', inputs: [{ name: '', link: i + 1 }] });
    links.push([i + 1, i === 0 ? 1 : 9 + i, 0, 10 + i, 0, 'IMAGE']);
  }
  for (let j = 0; j < 4_999; j++) {
    const link = reroutes + 1 + j;
    nodes.push({ id: -1 - j, type: 'SaveImage', inputs: [{ name: 'images', link }], widgets_values: ['x'] });
    links.push([link, 9 + reroutes, 0, -1 - j, 0, 'IMAGE']);
  }
  const [, chainMs] = time(() => convertUiWorkflow({ nodes, links }, definitions));
  const loaders = Array.from({ length: 5_000 }, (_, i) => ({
    id: i + 1,
    type: 'CheckpointLoaderSimple',
    widgets_values: ['absent.safetensors'],
  }));
  const [, modelsMs] = time(() => convertUiWorkflow({ nodes: loaders, links: [] }, definitions));
  console.log(
    `ui    5k readers of a ${reroutes / 1000}k-Reroute chain ${chainMs.toFixed(1)} ms; ` +
      `5k loaders over ${models.length / 1000}k models ${modelsMs.toFixed(1)} ms`,
  );
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

/** Child mode: a control plane with one tenant; prints `{ url, key }` and runs until SIGTERM. */
async function serveChild(): Promise<void> {
  const server = await startTestServer({ settings: { logLevel: 'silent' } });
  const tenant = await createTenant(server, {
    limits: { max_active_jobs_per_user: 50, submit_rate_per_user: 1000, submit_burst_per_user: 1000 },
  });
  console.log(JSON.stringify({ url: server.url, key: tenant.key }));
  process.once('SIGTERM', () => void server.close().then(() => process.exit(0)));
}

async function probeHealthz(url: string, until: { done: boolean }): Promise<number[]> {
  const latencies: number[] = [];
  while (!until.done) {
    const started = performance.now();
    await (await fetch(`${url}/healthz`)).text();
    latencies.push(performance.now() - started);
  }
  return latencies.sort((a, b) => a - b);
}

async function throughServe(): Promise<void> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(import.meta.url), '--serve-child'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const line = await new Promise<string>((resolve) =>
    createInterface({ input: child.stdout }).once('line', resolve),
  );
  const { url, key } = JSON.parse(line) as { url: string; key: string };
  try {
    for (const n of [...SIZES, 40_000]) {
      const body = JSON.stringify({ workflow: chain(n) });
      const until = { done: false };
      const probe = probeHealthz(url, until);
      const started = performance.now();
      const res = await fetch(`${url}/v1/jobs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'x-user-id': 'bench', 'content-type': 'application/json' },
        body,
      });
      const answer = (await res.json()) as { code?: string };
      const took = performance.now() - started;
      until.done = true;
      const latencies = await probe;
      console.log(
        `serve ${String(n).padStart(6)} nodes (${(body.length / 1e6).toFixed(1)} MB): ${res.status} ${answer.code ?? 'admitted'} ` +
          `in ${took.toFixed(1)} ms; concurrent /healthz ×${latencies.length} p50 ${quantile(latencies, 0.5).toFixed(1)} ms ` +
          `max ${quantile(latencies, 1).toFixed(1)} ms`,
      );
    }
  } finally {
    child.kill('SIGTERM');
  }
}

if (process.argv.includes('--serve-child')) {
  await serveChild();
} else {
  pureChecks();
  uiConversion();
  await throughServe();
}
