/**
 * Workers as separate OS processes: a ComfyUI (comfy-lite) killed mid-job, and the remote
 * `arrakis agent` that connects out to the control plane with a worker token.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import {
  client,
  createTenant,
  delayWorkflow,
  invertWorkflow,
  isTerminal,
  startTestServer,
  waitForJob,
  type TestServer,
} from '../support/server.js';
import { ARRAKIS_BIN, spawnComfyLite } from '../support/processes.js';

const BIN = ARRAKIS_BIN;
const children: ChildProcess[] = [];
const servers: TestServer[] = [];

afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGKILL');
      await once(c, 'exit');
    }
  }
  for (const s of servers.splice(0)) await s.close();
});

async function serverWith(settings: Record<string, unknown>): Promise<TestServer> {
  const s = await startTestServer({ settings: { leaseSeconds: 2, ...settings } });
  servers.push(s);
  return s;
}

describe('a ComfyUI process killed mid-job', () => {
  it('the job is retried on another worker and completes', async () => {
    const external = await spawnComfyLite(children);
    const server = await serverWith({ comfyui: [external.url], comfyLite: 1 });
    const t = await createTenant(server);
    const c = client(server, t.key, 'alice');
    // Two long jobs occupy both workers, so one of them runs on the external process.
    const a = await c.submit({ workflow: delayWorkflow(1.5) });
    const b = await c.submit({ workflow: delayWorkflow(1.5) });
    await waitForJob(c, a.body.id, (j) => j.status === 'running');
    await waitForJob(c, b.body.id, (j) => j.status === 'running');
    external.proc.kill('SIGKILL');
    const [ja, jb] = await Promise.all([
      waitForJob(c, a.body.id, isTerminal, 20_000),
      waitForJob(c, b.body.id, isTerminal, 20_000),
    ]);
    expect([ja.status, jb.status]).toEqual(['completed', 'completed']);
  });

  it('with one attempt allowed it fails worker_lost — never stuck running', async () => {
    const external = await spawnComfyLite(children);
    const server = await serverWith({ comfyui: [external.url], maxAttempts: 1 });
    const t = await createTenant(server);
    const c = client(server, t.key, 'alice');
    const a = await c.submit({ workflow: delayWorkflow(5) });
    await waitForJob(c, a.body.id, (j) => j.status === 'running');
    external.proc.kill('SIGKILL');
    const job = await waitForJob(c, a.body.id, isTerminal, 20_000);
    expect(job.status).toBe('failed');
    expect(job.error.code).toBe('worker_lost');
  });
});

describe('remote agent (`arrakis agent`) end to end', () => {
  it('registers with a worker token, runs a job, and receives a cancel', async () => {
    const comfy = await spawnComfyLite(children);
    const server = await serverWith({ comfyLite: 0 });
    const token = await server.admin('POST', '/v1/admin/worker-tokens', { name: 'gpu-box-1' });
    expect(token.status).toBe(201);
    const agent = spawn(
      process.execPath,
      [
        BIN,
        'agent',
        '--server',
        server.url,
        '--token',
        token.body.token,
        '--comfyui',
        comfy.url,
        '--name',
        'gpu-box-1',
      ],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
    children.push(agent);
    const t = await createTenant(server);
    const c = client(server, t.key, 'alice');
    const done = await waitForJob(
      c,
      (await c.submit({ workflow: invertWorkflow() })).body.id,
      isTerminal,
      30_000,
    );
    expect(done.status).toBe('completed');
    expect(done.outputs).toHaveLength(1);
    const running = await c.submit({ workflow: delayWorkflow(30) });
    await waitForJob(c, running.body.id, (j) => j.status === 'running' && j.progress !== null, 20_000);
    const t0 = Date.now();
    expect((await c.cancel(running.body.id)).status).toBe(202);
    const cancelled = await waitForJob(c, running.body.id, isTerminal, 15_000);
    expect(cancelled.status).toBe('cancelled');
    // The job would run 30 s: ending well before proves the interrupt reached ComfyUI (bench/ measures how fast).
    expect(Date.now() - t0).toBeLessThan(10_000);
    const workers = await server.admin('GET', '/v1/admin/workers');
    expect(workers.body.data.some((w: any) => w.kind === 'remote' && w.name === 'gpu-box-1')).toBe(true);
    agent.kill('SIGTERM');
    const [code] = await once(agent, 'exit');
    expect(code).toBe(0);
  });

  it('an upload without a worker token is refused before its body is read', async () => {
    const server = await serverWith({ comfyLite: 0 });
    const res = await fetch(`${server.url}/v1/worker/jobs/job_x/outputs/0?node_id=1&filename=a.png`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: Buffer.alloc(64 * 1024 * 1024),
    });
    expect(res.status).toBe(401);
    expect(((await res.json()) as any).code).toBe('unauthorized');
  });

  it('a revoked worker token is refused', async () => {
    const server = await serverWith({ comfyLite: 0 });
    const token = await server.admin('POST', '/v1/admin/worker-tokens', { name: 'x' });
    expect((await server.admin('DELETE', `/v1/admin/worker-tokens/${token.body.id}`)).status).toBe(204);
    const res = await fetch(`${server.url}/v1/worker/register`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token.body.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'x' }),
    });
    expect(res.status).toBe(401);
  });
});
