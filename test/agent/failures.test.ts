import { once } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startComfyLite } from '../../src/comfy-lite/server.js';
import { freePort } from '../support/postgres-server.js';
import { afterEach, describe, expect, it } from 'vitest';
import { Harness, delayWorkflow, invertWorkflow } from './harness.js';

let h: Harness | null = null;

async function harness(options: { leaseMs?: number; maxAttempts?: number } = {}): Promise<Harness> {
  h = await Harness.create(options);
  return h;
}

afterEach(async () => {
  await h?.close();
  h = null;
});

const interruptData = (args: unknown[]): unknown => args[0];

describe('agent: cancel, timeouts, lost servers and leases', () => {
  it('cancels a running job within 1 s and interrupts exactly its prompt on ComfyUI', async () => {
    // A long lease puts the next heartbeat 10 s away: only the cancel push can meet the deadline.
    const t = await harness({ leaseMs: 30_000 });
    const lite = await t.startComfy();
    await t.startAgent(lite.url);
    const job = await t.admit(delayWorkflow(5));
    await t.waitFor(job.id, (j) => j.progress !== null);
    const interrupted = once(lite.events, 'interrupt');
    const start = Date.now();
    await t.cancel(job);
    const done = await t.waitForEnd(job.id, 3000);
    expect(done.status).toBe('cancelled');
    expect(Date.now() - start).toBeLessThan(1000);
    expect(interruptData(await interrupted)).toMatchObject({ promptId: job.id });
  });

  it('fails `timeout` and interrupts the prompt when the job outlives the per-job limit', async () => {
    const t = await harness();
    const lite = await t.startComfy();
    await t.startAgent(lite.url, { jobTimeoutMs: 400 });
    const interrupted = once(lite.events, 'interrupt');
    const job = await t.admit(delayWorkflow(5));
    const done = await t.waitForEnd(job.id, 3000);
    expect(done.status).toBe('failed');
    expect(done.error?.code).toBe('timeout');
    expect(interruptData(await interrupted)).toMatchObject({ promptId: job.id });
  });

  it('re-runs a job on another worker when its ComfyUI dies mid-job, and marks the first unhealthy', async () => {
    const t = await harness();
    const first = await t.startComfy();
    const agentA = await t.startAgent(first.url);
    const job = await t.admit(delayWorkflow(1));
    await t.waitFor(job.id, (j) => j.progress !== null);
    const second = await t.startComfy();
    const agentB = await t.startAgent(second.url);
    await first.close();
    const done = await t.waitForEnd(job.id, 15_000);
    expect(done.status).toBe('completed');
    expect(done.attempts).toBe(2);
    expect(done.workerId).toBe(agentB.workerId);
    const workerA = await t.store.getWorker(agentA.workerId ?? '');
    expect(workerA?.status).toBe('unhealthy');
  });

  it('fails `worker_lost` when ComfyUI dies and the retry budget is spent, never staying running', async () => {
    const t = await harness({ maxAttempts: 1 });
    const lite = await t.startComfy();
    await t.startAgent(lite.url);
    const job = await t.admit(delayWorkflow(2));
    await t.waitFor(job.id, (j) => j.progress !== null);
    await lite.close();
    const done = await t.waitForEnd(job.id, 10_000);
    expect(done.status).toBe('failed');
    expect(done.error?.code).toBe('worker_lost');
  });

  it('completes a job whose WebSocket was dropped mid-run (the outcome comes from history)', async () => {
    const t = await harness();
    const lite = await t.startComfy();
    await t.startAgent(lite.url);
    const job = await t.admit(delayWorkflow(0.6));
    await t.waitFor(job.id, (j) => j.progress !== null);
    lite.dropSockets();
    const done = await t.waitForEnd(job.id, 10_000);
    expect(done.status).toBe('completed');
    expect(done.outputs).toHaveLength(1);
  });

  it('runs two jobs at once on two agents with two ComfyUIs', async () => {
    const t = await harness();
    const [a, b] = [await t.startComfy(), await t.startComfy()];
    await t.startAgent(a.url);
    await t.startAgent(b.url);
    const [j1, j2] = [await t.admit(delayWorkflow(0.6)), await t.admit(delayWorkflow(0.6), [], 'user-2')];
    const [d1, d2] = await Promise.all([t.waitForEnd(j1.id), t.waitForEnd(j2.id)]);
    expect([d1.status, d2.status]).toEqual(['completed', 'completed']);
    expect(d1.workerId).not.toBe(d2.workerId);
    // Their run windows overlap: neither waited for the other.
    expect(d1.startedAt ?? Infinity).toBeLessThan(d2.finishedAt ?? 0);
    expect(d2.startedAt ?? Infinity).toBeLessThan(d1.finishedAt ?? 0);
  });

  it('stops working at once when the lease is lost, and the requeued job runs again as a new attempt', async () => {
    const t = await harness({ leaseMs: 600 });
    const lite = await t.startComfy();
    await t.startAgent(lite.url);
    const job = await t.admit(delayWorkflow(3));
    await t.waitFor(job.id, (j) => j.progress !== null);
    const interrupted = once(lite.events, 'interrupt');
    // A lease sweep from the future: the control plane now thinks this worker is gone.
    expect(await t.store.expireLeases(3, Date.now() + 60_000)).toEqual([
      { jobId: job.id, outcome: 'requeued' },
    ]);
    await t.bus.publish({ kind: 'job_ready', pool: null });
    expect(interruptData(await interrupted)).toMatchObject({ promptId: job.id });
    const rerun = await t.waitFor(job.id, (j) => j.attempts === 2 && j.progress !== null, 5000);
    expect(rerun.status).toBe('running');
  });

  it('gives the running job back to the queue when the agent stops', async () => {
    const t = await harness();
    const lite = await t.startComfy();
    const agent = await t.startAgent(lite.url);
    const job = await t.admit(delayWorkflow(5));
    await t.waitFor(job.id, (j) => j.progress !== null);
    const interrupted = once(lite.events, 'interrupt');
    await agent.stop();
    const back = await t.store.getJob(job.id);
    expect(back?.status).toBe('queued');
    expect(back?.workerId).toBeNull();
    expect(interruptData(await interrupted)).toMatchObject({ promptId: job.id });
    expect((await t.store.getWorker(agent.workerId ?? ''))?.status).toBe('stopped');
  });

  it('fails `output_store_failed` when storage refuses the output', async () => {
    const t = await harness();
    const job = await t.admit(invertWorkflow());
    // A plain file where the job's outputs folder must go: the file backend cannot write there.
    await mkdir(join(t.dir, 'objects', 'jobs', job.id), { recursive: true });
    await writeFile(join(t.dir, 'objects', 'jobs', job.id, 'outputs'), 'in the way');
    const lite = await t.startComfy();
    await t.startAgent(lite.url);
    const done = await t.waitForEnd(job.id);
    expect(done.status).toBe('failed');
    expect(done.error?.code).toBe('output_store_failed');
  });

  it('claims nothing while its ComfyUI is down, reports unhealthy, and starts once it answers', async () => {
    const t = await harness();
    const port = await freePort();
    const agent = await t.startAgent(`http://127.0.0.1:${port}`);
    const job = await t.admit(invertWorkflow());
    const unhealthy = await t.waitFor(job.id, () => agent.status === 'unhealthy');
    expect(unhealthy.status).toBe('queued');
    expect((await t.store.getWorker(agent.workerId ?? ''))?.status).toBe('unhealthy');
    const lite = await startComfyLite({ port });
    try {
      const done = await t.waitForEnd(job.id);
      expect(done.status).toBe('completed');
      expect(done.workerId).toBe(agent.workerId);
    } finally {
      await agent.stop();
      await lite.close();
    }
  });
});
