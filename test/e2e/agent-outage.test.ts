/**
 * `arrakis agent` rides out its control plane being away: started while serve is not yet listening, it waits
 * (backoff, one warning) and registers once serve comes up; when serve stops and restarts on the same port and
 * database, the agent carries on and runs the next job. Each 15 s outage costs a few log lines, not one per
 * retry. The token comes from a file, not argv.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { issueWorkerToken } from '../../src/workers/worker-tokens.js';
import { startComfyLite, type ComfyLiteServer } from '../../src/comfy-lite/server.js';
import { openMigratedStore } from '../../src/store/open.js';
import { freePort } from '../../src/util/free-port.js';
import { ADMIN_KEY, client, createTenant, delayWorkflow, isTerminal, waitForJob } from '../support/server.js';
import { ARRAKIS_BIN as BIN } from '../support/processes.js';

const OUTAGE_MS = 15_000;
const dir = mkdtempSync(join(tmpdir(), 'arrakis-agent-outage-'));
const db = `sqlite:${join(dir, 'a.db')}`;
const procs: ChildProcess[] = [];
let lite: ComfyLiteServer | null = null;

afterAll(async () => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await lite?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function serve(port: number): Promise<{ url: string; proc: ChildProcess }> {
  const proc = spawn(
    process.execPath,
    [
      BIN,
      'serve',
      '--port',
      String(port),
      '--db',
      db,
      '--storage',
      `file:${join(dir, 'objects')}`,
      '--admin-key',
      ADMIN_KEY,
      '--log-level',
      'silent',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  procs.push(proc);
  return await new Promise((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (chunk: Buffer) => {
      out += String(chunk);
      const m = /arrakis listening on (http:\/\/\S+)/.exec(out);
      if (m?.[1] !== undefined) resolve({ url: m[1], proc });
    });
    proc.once('exit', () => reject(new Error(`serve exited before it was ready: ${out}`)));
  });
}

async function stop(proc: ChildProcess): Promise<void> {
  const exited = once(proc, 'exit');
  proc.kill('SIGTERM');
  await exited;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The agent's log lines (pino JSON) so far. */
function logLines(out: string): Array<{ level: number; msg: string }> {
  return out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { level: number; msg: string });
}

describe('arrakis agent and control-plane outages', () => {
  it('waits for serve at start, survives serve restarting, and runs jobs after each', async () => {
    lite = await startComfyLite({ port: 0 });
    const port = await freePort();
    // The worker token is issued straight into the database serve will open: serve is not running yet.
    const store = await openMigratedStore(db);
    const { token } = await issueWorkerToken(store, 'outage', 'default');
    await store.close();
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });

    const agent = spawn(
      process.execPath,
      [
        BIN,
        'agent',
        '--server',
        `http://127.0.0.1:${port}`,
        '--token-file',
        tokenFile,
        '--comfyui',
        lite.url,
        '--name',
        'outage-agent',
        '--retry-max-seconds',
        '2',
        '--claim-wait-seconds',
        '2',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    procs.push(agent);
    let out = '';
    agent.stdout!.on('data', (c: Buffer) => (out += String(c)));
    agent.stderr!.on('data', (c: Buffer) => (out += String(c)));

    // Outage at start: the agent keeps waiting, with one warning for the whole outage.
    await sleep(OUTAGE_MS);
    expect(agent.exitCode).toBeNull();
    const atStart = logLines(out);
    expect(atStart.filter((l) => l.level >= 40)).toHaveLength(1);
    expect(atStart.length).toBeLessThanOrEqual(2);
    expect(atStart[0]?.msg).toMatch(/registering with the control plane .* failed; retrying/);

    const first = await serve(port);
    const admin = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${first.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as any };
    };
    const tenant = await createTenant({ admin } as never);
    const c1 = client(first, tenant.key, 'alice');
    const job1 = await c1.submit({ workflow: delayWorkflow(0.1) });
    expect(job1.status).toBe(202);
    expect((await waitForJob(c1, job1.body.id, isTerminal, 30_000)).status).toBe('completed');
    expect(out).toMatch(/arrakis agent wrk_\w+ serving/);
    expect(out).toContain('recovered');

    // Outage mid-run: serve stops, stays away 15 s, and comes back on the same port and database.
    await stop(first.proc);
    const before = logLines(out).length;
    await sleep(OUTAGE_MS);
    expect(agent.exitCode).toBeNull();
    const during = logLines(out).slice(before);
    expect(during.length).toBeLessThanOrEqual(3);
    const second = await serve(port);
    const c2 = client(second, tenant.key, 'alice');
    const job2 = await c2.submit({ workflow: delayWorkflow(0.1) });
    expect((await waitForJob(c2, job2.body.id, isTerminal, 30_000)).status).toBe('completed');
    const job2Lines = logLines(out).filter((l) => JSON.stringify(l).includes(job2.body.id));
    expect(job2Lines.map((l) => l.msg)).toEqual(
      expect.arrayContaining(['running job', 'prompt sent to ComfyUI']),
    );
    // The whole second outage, recovery included, stayed within a few lines besides the job's own.
    expect(logLines(out).slice(before).length - job2Lines.length).toBeLessThanOrEqual(6);

    await stop(agent);
    expect(agent.exitCode).toBe(0);
    await stop(second.proc);
  }, 120_000);
});

describe('arrakis agent refused by the control plane', () => {
  it('exits 1 at once on a token the control plane does not know, instead of retrying forever', async () => {
    const { startTestServer } = await import('../support/server.js');
    const server = await startTestServer();
    try {
      const proc = spawn(
        process.execPath,
        [BIN, 'agent', '--server', server.url, '--comfyui', 'http://127.0.0.1:9', '--retry-max-seconds', '1'],
        {
          env: { ...process.env, ARRAKIS_WORKER_TOKEN: 'wkt_not_a_real_token' },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      procs.push(proc);
      let err = '';
      proc.stderr!.on('data', (c: Buffer) => (err += String(c)));
      const [code] = await once(proc, 'exit');
      expect(code).toBe(1);
      expect(err).toMatch(/401/);
    } finally {
      await server.close();
    }
  }, 30_000);
});
