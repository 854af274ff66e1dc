import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { issueWorkerToken, workerRoutes } from '../../src/api/routes/workers.js';
import type { ComfyLiteServer } from '../../src/comfy-lite/server.js';
import { LEFTOVER_PROMPT } from '../../src/workers/worker-service.js';
import { Harness, delayWorkflow } from './harness.js';

const BIN = fileURLToPath(new URL('../../bin/arrakis.mjs', import.meta.url));

let h: Harness | null = null;
let app: FastifyInstance | null = null;
let child: ChildProcess | null = null;

afterEach(async () => {
  if (child !== null && child.exitCode === null && child.signalCode === null) {
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }
  await app?.close();
  await h?.close();
  [h, app, child] = [null, null, null];
});

/** Resolves once the child has printed a line matching `pattern`. */
async function waitForLine(proc: ChildProcess, pattern: RegExp): Promise<string> {
  let seen = '';
  return await new Promise((resolve, reject) => {
    proc.stdout?.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      const line = seen.split('\n').find((l) => pattern.test(l));
      if (line !== undefined) resolve(line);
    });
    proc.once('exit', (code) =>
      reject(new Error(`agent exited (${String(code)}) before printing ${pattern}: ${seen}`)),
    );
  });
}

/**
 * A harness, the worker API on it with leases of `leaseMs`, a comfy-lite and a worker token (the harness and
 * the API also in `h` and `app`, for afterEach).
 */
async function workerApi(
  leaseMs: number,
): Promise<{ harness: Harness; serverUrl: string; lite: ComfyLiteServer; token: string }> {
  const harness = await Harness.create({ leaseMs });
  h = harness;
  const api = Fastify();
  app = api;
  await api.register(
    workerRoutes({
      store: harness.store,
      storage: harness.storage,
      bus: harness.bus,
      leaseMs,
      maxAttempts: 3,
    }),
    { prefix: '/v1/worker' },
  );
  const serverUrl = await api.listen({ host: '127.0.0.1', port: 0 });
  const lite = await harness.startComfy();
  const { token } = await issueWorkerToken(harness.store, 'cli', 'default');
  return { harness, serverUrl, lite, token };
}

describe('arrakis agent (CLI)', () => {
  it('serves jobs from the worker API and on SIGTERM gives its job back and exits 0', async () => {
    const { harness, serverUrl, lite, token } = await workerApi(3000);
    const proc = spawn(
      process.execPath,
      [BIN, 'agent', '--server', serverUrl, '--comfyui', lite.url, '--name', 'cli-agent'],
      { env: { ...process.env, ARRAKIS_WORKER_TOKEN: token }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = proc;
    await waitForLine(proc, /^arrakis agent wrk_\w+ serving /);

    const job = await harness.admit(delayWorkflow(5));
    const running = await harness.waitFor(job.id, (j) => j.progress !== null, 15_000);
    const worker = await harness.store.getWorker(running.workerId ?? '');
    expect(worker).toMatchObject({ name: 'cli-agent', kind: 'remote' });

    const exited = once(proc, 'exit');
    proc.kill('SIGTERM');
    const [code] = await exited;
    expect(code).toBe(0);
    const back = await harness.store.getJob(job.id);
    expect(back?.status).toBe('queued');
    expect((await harness.store.getWorker(running.workerId ?? ''))?.status).toBe('stopped');
  });

  it("killed mid-job (SIGKILL) and started again under its default name, takes its dead run's job back as soon as its lease goes unrenewed", async () => {
    // No lease sweep runs here: a lease that is never given back keeps its job `running` for good.
    const { harness, serverUrl, lite, token } = await workerApi(3_000);
    // No --name: the host name, the same for the process started in its place.
    const start = (): ChildProcess =>
      spawn(process.execPath, [BIN, 'agent', '--server', serverUrl, '--comfyui', lite.url], {
        env: { ...process.env, ARRAKIS_WORKER_TOKEN: token },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    const first = start();
    child = first;
    await waitForLine(first, /^arrakis agent wrk_\w+ serving /);
    const job = await harness.admit(delayWorkflow(30));
    const running = await harness.waitFor(job.id, (j) => j.progress !== null, 15_000);

    const killed = once(first, 'exit');
    first.kill('SIGKILL');
    await killed;
    // Dead: nothing gave the job back, and its prompt runs on.
    expect(await harness.store.getJob(job.id)).toMatchObject({
      status: 'running',
      workerId: running.workerId,
    });

    const second = start();
    child = second;
    const line = await waitForLine(second, /^arrakis agent wrk_\w+ serving /);
    const secondId = /wrk_\w+/.exec(line)?.[0];
    // Once the dead worker's lease went unrenewed for 2 s. Without the give-back it stays with the dead worker.
    const rerun = await harness.waitFor(job.id, (j) => j.workerId === secondId, 10_000);
    expect(rerun).toMatchObject({ status: 'running', attempts: 2 });
    const events = await harness.store.listJobEvents(job.id, 0);
    expect(JSON.stringify(events.map((e) => e.data))).toContain(LEFTOVER_PROMPT);
  });
});
