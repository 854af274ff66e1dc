/**
 * What an operator sees of one job, from `arrakis serve` run as a process: its log read with `grep job_<id>`
 * (admitted → claimed → prompt sent → finished, each with the account, user, request and trace ids), no
 * health-check or scrape lines at info, and the /metrics series a Grafana dashboard is built on.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startComfyLite, type ComfyLiteServer } from '../../src/comfy-lite/server.js';
import { freePort } from '../../src/util/free-port.js';
import {
  ADMIN_KEY,
  client,
  createTenant,
  delayWorkflow,
  isTerminal,
  loadInvertWorkflow,
  solidPng,
  waitForJob,
} from '../support/server.js';
import { ARRAKIS_BIN as BIN } from '../support/processes.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const dir = mkdtempSync(join(tmpdir(), 'arrakis-observe-'));
const procs: ChildProcess[] = [];
let lite: ComfyLiteServer | null = null;
let peer: Server | null = null;

afterAll(async () => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await lite?.close();
  await new Promise((r) => peer?.close(r) ?? r(undefined));
  rmSync(dir, { recursive: true, force: true });
});

/** Serves the input image and receives webhooks, on one loopback port. */
async function startPeer(png: Buffer): Promise<number> {
  peer = createServer((req, res) => {
    if (req.method === 'GET') res.writeHead(200, { 'content-type': 'image/png' }).end(png);
    else req.resume().on('end', () => res.writeHead(204).end());
  });
  await new Promise<void>((r) => peer!.listen(0, '127.0.0.1', r));
  const address = peer.address();
  return typeof address === 'object' && address !== null ? address.port : 0;
}

async function serve(
  comfyUrl: string,
  peerPort: number,
): Promise<{ url: string; proc: ChildProcess; out: () => string }> {
  const proc = spawn(
    process.execPath,
    [
      BIN,
      'serve',
      '--port',
      String(await freePort()),
      '--db',
      `sqlite:${join(dir, 'a.db')}`,
      '--storage',
      `file:${join(dir, 'objects')}`,
      '--comfyui',
      comfyUrl,
      '--admin-key',
      ADMIN_KEY,
      '--fetch-allow',
      `127.0.0.1:${peerPort}`,
      '--log-level',
      'info',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  procs.push(proc);
  let out = '';
  return await new Promise((resolve, reject) => {
    proc.stdout!.on('data', (chunk: Buffer) => {
      out += String(chunk);
      const m = /arrakis listening on (http:\/\/\S+)/.exec(out);
      if (m?.[1] !== undefined) resolve({ url: m[1], proc, out: () => out });
    });
    proc.once('exit', () => reject(new Error(`serve exited before it was ready: ${out}`)));
  });
}

type Line = Record<string, unknown> & { level: number; msg: string };

function lines(out: string): Line[] {
  return out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Line);
}

async function until(check: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('observability of one job', () => {
  it('logs the job life with its ids, keeps probes out of info, and exports the metrics', async () => {
    lite = await startComfyLite({ port: 0 });
    const peerPort = await startPeer(await solidPng(8, 8, [10, 20, 30]));
    const server = await serve(lite.url, peerPort);
    const admin = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${server.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as any };
    };
    const tenant = await createTenant({ admin } as never);
    const c = client(server, tenant.key, 'alice');
    for (const path of ['/healthz', '/readyz', '/metrics', '/healthz']) await fetch(`${server.url}${path}`);

    const submitted = await c.submit(
      {
        workflow: loadInvertWorkflow('photo'),
        inputs: { photo: { url: `http://127.0.0.1:${peerPort}/photo.png` } },
        webhook: { url: `http://127.0.0.1:${peerPort}/hook` },
      },
      { traceparent: `00-${TRACE_ID}-00f067aa0ba902b7-01`, 'x-request-id': 'req-observe-1' },
    );
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
    const id: string = submitted.body.id;
    expect((await waitForJob(c, id, isTerminal, 30_000)).status).toBe('completed');
    await c.call('GET', `/v1/jobs/${id}/events`);

    // grep job_<id>: the job's life in order, with its ids.
    await until(() => lines(server.out()).some((l) => l.jobId === id && l.msg === 'job completed'));
    const jobLines = server
      .out()
      .split('\n')
      .filter((l) => l.includes(id))
      .map((l) => JSON.parse(l) as Line);
    const steps = jobLines.map((l) => l.msg);
    const order = [
      'job admitted',
      /^job claimed by worker wrk_\w+ after \d+ ms$/,
      'prompt sent to ComfyUI',
      'job completed',
    ];
    let at = -1;
    for (const step of order) {
      const next = steps.findIndex(
        (m, i) => i > at && (typeof step === 'string' ? m === step : step.test(m)),
      );
      expect(next, `${String(step)} after step ${at} in ${JSON.stringify(steps)}`).toBeGreaterThan(at);
      at = next;
    }
    const controlPlaneSteps = jobLines.filter((j) => /^job (admitted|claimed by|completed$)/.test(j.msg));
    expect(controlPlaneSteps).toHaveLength(3);
    for (const l of controlPlaneSteps) {
      expect(l).toMatchObject({
        jobId: id,
        accountId: tenant.accountId,
        userId: 'alice',
        requestId: 'req-observe-1',
        traceId: TRACE_ID,
      });
    }
    const finished = jobLines.find((l) => l.msg === 'job completed');
    expect(finished).toMatchObject({ status: 'completed', errorCode: null });
    expect(typeof finished?.runMs).toBe('number');
    expect(typeof finished?.totalMs).toBe('number');
    // The submission's own request line carries the trace id too.
    const requestLine = lines(server.out()).find(
      (l) => l.requestId === 'req-observe-1' && l.msg === 'request completed',
    );
    expect(requestLine).toMatchObject({ traceId: TRACE_ID, route: '/v1/jobs', status: 202 });

    // Probes and scrapes are not logged at info; ordinary requests are.
    const routes = lines(server.out())
      .filter((l) => l.msg === 'request completed')
      .map((l) => l.route);
    expect(routes).toContain('/v1/jobs/:id');
    for (const quiet of ['/healthz', '/readyz', '/metrics', '/v1/jobs/:id/events'])
      expect(routes).not.toContain(quiet);

    // The metrics, with their labels.
    await until(() =>
      lines(server.out()).some(
        (l) => l.jobId === id && typeof l.msg === 'string' && l.msg.startsWith('webhook delivered'),
      ),
    );
    // The worker says idle once no job came for 200 ms after its last (IDLE_REPORT_DELAY_MS).
    const idleWorker = /^arrakis_workers\{pool="default",state="idle"\} 1$/m;
    let metrics = '';
    for (const deadline = Date.now() + 10_000; !idleWorker.test(metrics) && Date.now() < deadline;) {
      if (metrics !== '') await new Promise((r) => setTimeout(r, 50));
      metrics = await (await fetch(`${server.url}/metrics`)).text();
    }
    const expected = [
      /^arrakis_jobs_finished_total\{status="completed",error_code="",pool="default"\} 1$/m,
      /^arrakis_job_queue_wait_seconds_count\{pool="default"\} 1$/m,
      /^arrakis_job_run_time_seconds_count\{pool="default"\} 1$/m,
      /^arrakis_workers\{pool="default",state="idle"\} 1$/m,
      /^arrakis_jobs\{status="queued"\} 0$/m,
      /^arrakis_database_gauges_exporter 1$/m,
      /^arrakis_input_fetches_total\{outcome="ok",error_code=""\} 1$/m,
      /^arrakis_webhook_attempts_total\{result="delivered"\} 1$/m,
      /^arrakis_webhook_deliveries_total\{outcome="delivered"\} 1$/m,
      /^arrakis_webhook_delivery_attempts_count\{outcome="delivered"\} 1$/m,
      /^arrakis_jobs_submitted_total 1$/m,
      /^arrakis_http_request_duration_seconds_count\{method="POST",route="\/v1\/jobs",status="202"\} 1$/m,
    ];
    for (const pattern of expected) expect(metrics).toMatch(pattern);
    // Long polls and event streams stay out of the request histogram.
    expect(metrics).not.toMatch(
      /arrakis_http_request_duration_seconds_count\{[^}]*route="\/v1\/jobs\/:id\/events"/,
    );

    // A queued job cancelled by its owner ends there: one line and one count, with its ids.
    const busy = await c.submit({ workflow: delayWorkflow(3) });
    await waitForJob(c, busy.body.id, (j) => j.status === 'running');
    const queued = await c.submit({ workflow: delayWorkflow(3) }, { 'x-request-id': 'req-observe-2' });
    expect((await c.cancel(queued.body.id)).status).toBe(200);
    await until(() =>
      lines(server.out()).some((l) => l.jobId === queued.body.id && l.msg === 'job cancelled'),
    );
    expect(
      lines(server.out()).find((l) => l.jobId === queued.body.id && l.msg === 'job cancelled'),
    ).toMatchObject({
      accountId: tenant.accountId,
      userId: 'alice',
      requestId: 'req-observe-2',
      status: 'cancelled',
    });
    expect(await (await fetch(`${server.url}/metrics`)).text()).toMatch(
      /^arrakis_jobs_finished_total\{status="cancelled",error_code="",pool="default"\} 1$/m,
    );

    const exited = once(server.proc, 'exit');
    server.proc.kill('SIGTERM');
    expect((await exited)[0]).toBe(0);
  }, 60_000);
});
