/**
 * `serve --fleet`: a process pool of real comfy-lite processes scaled from zero by demand,
 * running the job, and scaled back down after the idle window; every decision recorded.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/open.js';
import { writeComfyLiteFleet } from '../support/processes.js';
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

let server: TestServer;

/** A fleet file with one process pool of comfy-lite workers. */
function processFleet(scaleDownS: number, stopGraceS = 10): string {
  return writeComfyLiteFleet(
    mkdtempSync(join(tmpdir(), 'arrakis-fleet-')),
    { min: 0, max: 1, scale_down_s: scaleDownS, cold_start_s: 2, price_per_gpu_second: 0.001 },
    { stop_grace_s: stopGraceS },
  );
}

beforeAll(async () => {
  server = await startTestServer({ settings: { comfyLite: 0, fleet: processFleet(1) } });
});
afterAll(async () => {
  await server.close();
});

async function fleetWorkers(): Promise<Array<{ state: string }>> {
  const status = await server.admin('GET', '/v1/admin/fleet');
  return status.body.pools[0].workers;
}

describe('fleet inside serve', () => {
  it('starts a worker for a queued job, runs it, then stops the idle worker after the window', async () => {
    expect(await fleetWorkers()).toHaveLength(0);
    const t = await createTenant(server);
    const c = client(server, t.key, 'alice');
    const r = await c.submit({ workflow: invertWorkflow() });
    const job = await waitForJob(c, r.body.id, isTerminal, 30_000);
    expect(job.status).toBe('completed');
    const deadline = Date.now() + 20_000;
    while ((await fleetWorkers()).length > 0) {
      if (Date.now() > deadline) throw new Error('the idle worker was never stopped');
      await new Promise((res) => setTimeout(res, 200));
    }
    const decisions = await server.admin('GET', '/v1/admin/fleet/decisions?pool=local');
    const targets = decisions.body.data.map((d: any) => d.target);
    expect(targets).toContain(1);
    expect(targets).toContain(0);
    const status = await server.admin('GET', '/v1/admin/fleet');
    expect(status.body.pools[0].cost.worker_seconds).toBeGreaterThan(0);
    expect(status.body.pools[0].cost.cost).toBeGreaterThan(0);
    const usage = await server.admin('GET', `/v1/admin/accounts/${t.accountId}/usage`);
    expect(usage.status).toBe(200);
    expect(usage.body.jobs).toBe(1);
    expect(usage.body.run_seconds).toBeGreaterThan(0);
    // Attributed cost: its run at the pool price, plus its share of the pool's idle (cold start) time.
    expect(usage.body.cost).toBeGreaterThan(usage.body.run_seconds * 0.001);
    // The fleet's target, workers and cost as Prometheus series (this replica runs the fleet).
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/^arrakis_fleet_target_workers\{pool="local"\} 0$/m);
    expect(metrics).toMatch(/^arrakis_fleet_cost_dollars\{pool="local"\} 0\.\d*[1-9]/m);
    expect(metrics).toMatch(
      /^arrakis_jobs_finished_total\{status="completed",error_code="",pool="local"\} 1$/m,
    );
  });
});

describe('fleet shutdown', () => {
  it(
    'gives a running job back without spending an attempt before it stops the worker',
    { timeout: 60_000 },
    async () => {
      const s = await startTestServer({ settings: { comfyLite: 0, fleet: processFleet(60, 0) } });
      let closed = false;
      try {
        const t = await createTenant(s);
        const c = client(s, t.key, 'alice');
        const r = await c.submit({ workflow: delayWorkflow(60) });
        expect(r.status).toBe(202);
        const running = await waitForJob(c, r.body.id, (j) => j.status === 'running', 30_000);
        expect(running.status).toBe('running');
        // Serve stops (a deploy): the agent lets go while its ComfyUI still answers, then the worker stops.
        // Stopping the worker first left the agent waiting ~10 s on a dead ComfyUI, its give-back a race
        // between the shutdown and the lost connection (which spends an attempt); it takes milliseconds now.
        const t0 = Date.now();
        await s.cp.close();
        expect(Date.now() - t0).toBeLessThan(6000);
        closed = true;
        const store = await openStore(s.config.db);
        try {
          const job = await store.getJob(r.body.id);
          // The run keeps its attempt number (never reused); it is refunded against the retry limit instead.
          expect(job).toMatchObject({ status: 'queued', attempts: 1 });
          const events = await store.listJobEvents(r.body.id, 0);
          expect(JSON.stringify(events)).toContain('the worker is stopping');
          // Not spent: with two attempts allowed, the next run may still be lost once and be retried.
          const next = await store.claimNext('w-next', job?.pool ?? '', 60_000, Date.now());
          expect(next?.attempts).toBe(2);
          const lost = await store.releaseJob(r.body.id, 'w-next', 2, 'ComfyUI died', Date.now());
          expect(lost.kind === 'finished' && lost.job.status).toBe('queued');
        } finally {
          await store.close();
        }
      } finally {
        if (!closed) await s.cp.close();
        rmSync(s.dir, { recursive: true, force: true });
      }
    },
  );
});
