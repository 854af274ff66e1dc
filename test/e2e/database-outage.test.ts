/**
 * A 10 s PostgreSQL outage while jobs run on fleet-started workers (issue 10, items 6 and 8). `serve` runs as
 * a child process, so an unhandled rejection in any background loop would really end it. The database is a
 * dedicated embedded server this test stops and starts. Afterwards: serve is alive, /readyz answered 503
 * during the outage and 200 after, every job ended, a new job completes, and the outage cost few log lines.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOwnPostgres, type OwnPostgres } from '../support/postgres-server.js';
import { ARRAKIS_BIN as BIN, writeComfyLiteFleet } from '../support/processes.js';
import { client, delayWorkflow, invertWorkflow, isTerminal, waitForJob } from '../support/server.js';

const ADMIN_KEY = 'outage-admin-key-0123456789';

let pg: OwnPostgres;
let dir: string;
let serve: ChildProcess;
let url = '';
let output = '';

beforeAll(async () => {
  pg = await startOwnPostgres();
  dir = mkdtempSync(join(tmpdir(), 'arrakis-outage-'));
  const fleetFile = writeComfyLiteFleet(dir, { min: 0, max: 2, scale_down_s: 30, cold_start_s: 2 });
  serve = spawn(
    process.execPath,
    [
      BIN,
      'serve',
      '--port',
      '0',
      '--db',
      pg.url,
      '--storage',
      `file:${join(dir, 'objects')}`,
      '--fleet',
      fleetFile,
    ],
    {
      env: {
        ...process.env,
        ARRAKIS_ADMIN_KEY: ADMIN_KEY,
        ARRAKIS_LOG_LEVEL: 'info',
        ARRAKIS_LEASE_SECONDS: '30',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  serve.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  serve.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  url = await new Promise<string>((resolve, reject) => {
    const poll = setInterval(() => {
      const m = /arrakis listening on (\S+)/.exec(output);
      if (m?.[1] !== undefined) {
        clearInterval(poll);
        resolve(m[1]);
      }
    }, 50);
    serve.once('exit', (code) => {
      clearInterval(poll);
      reject(new Error(`serve exited (${String(code)}) before listening:\n${output}`));
    });
  });
}, 120_000);

afterAll(async () => {
  if (serve !== undefined && serve.exitCode === null && serve.signalCode === null) {
    const exited = once(serve, 'exit');
    serve.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
    if (serve.exitCode === null) serve.kill('SIGKILL');
  }
  if (process.env.ARRAKIS_TEST_KEEP_LOG !== undefined)
    writeFileSync(process.env.ARRAKIS_TEST_KEEP_LOG, output);
  await pg?.destroy();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

async function admin(method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return await res.json();
}

const readyz = async (): Promise<number> => (await fetch(`${url}/readyz`)).status;

/** Polls /readyz until it answers `status` (true) or `ms` pass (false). */
async function readyzBecomes(status: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if ((await readyz().catch(() => 0)) === status) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

/** Warning lines serve logged since `from` (pino JSON: level 40). */
const warningsSince = (from: number): string[] =>
  output
    .slice(from)
    .split('\n')
    .filter((l) => l.includes('"level":40') || l.includes('"level":50'));

describe('a database outage while fleet workers run jobs', () => {
  it('leaves serve alive, readyz 503 during and 200 after, every job ended, and new work completing', async () => {
    const account = await admin('POST', '/v1/admin/accounts', { name: 'outage' });
    const key = await admin('POST', `/v1/admin/accounts/${account.id}/keys`, { name: 'k' });
    const c = client({ url }, key.key, 'alice');
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await c.submit({ workflow: delayWorkflow(4) });
      expect(r.status).toBe(202);
      ids.push(r.body.id);
    }
    // The outage starts while jobs run on fleet-started workers.
    await waitForJob(c, ids[0]!, (j) => j.status === 'running', 60_000);
    const from = output.length;

    await pg.stop();
    const outageStarted = Date.now();
    expect(await readyzBecomes(503, 5000)).toBe(true);
    expect((await fetch(`${url}/readyz`)).headers.get('content-type')).toMatch(/problem\+json/);
    await new Promise((r) => setTimeout(r, Math.max(0, 10_000 - (Date.now() - outageStarted))));
    expect(serve.exitCode).toBeNull();
    await pg.start();

    expect(await readyzBecomes(200, 20_000)).toBe(true);
    for (const id of ids) {
      const job = await waitForJob(c, id, isTerminal, 120_000);
      expect(['completed', 'failed']).toContain(job.status);
    }
    const after = await c.submit({ workflow: invertWorkflow() });
    expect(after.status).toBe(202);
    expect((await waitForJob(c, after.body.id, isTerminal, 60_000)).status).toBe('completed');
    expect(serve.exitCode).toBeNull();

    // One line per loop when the outage starts (and info when it ends), not one per tick: a generous bound.
    const warnings = warningsSince(from);
    expect(warnings.length, warnings.join('\n')).toBeLessThan(30);
    const decisions = await admin('GET', '/v1/admin/fleet/decisions?pool=local');
    expect(decisions.data.length).toBeGreaterThan(0);
  }, 300_000);
});
