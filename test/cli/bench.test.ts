/**
 * `arrakis bench` as a process. Against serve with a process-provider fleet of comfy-lite workers scaled
 * from zero: every check passes, cold shows a worker start, the report files exist and parse. Planted
 * faults fail the matching check with exit 1: a worker killed during the warm check, and a stand-in server
 * that admits one job over the per-user limit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, delayWorkflow, startTestServer, type TestServer } from '../support/server.js';
import { startQuotaStandIn } from './bench-stand-in.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin/arrakis.mjs');
let dir: string;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `arrakis bench …`; `onStderr` sees the progress lines as they come. */
function bench(args: string[], onStderr?: (text: string) => void): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, 'bench', ...args], {
      cwd: ROOT,
      env: { ...process.env, ARRAKIS_ADMIN_KEY: ADMIN_KEY },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      onStderr?.(stderr);
    });
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

function readReport(out: string): any {
  return JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
}

const check = (report: any, name: string): any => report.checks.find((c: any) => c.name === name);

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const address = srv.address();
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return typeof address === 'object' && address !== null ? address.port : 0;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'arrakis-bench-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('arrakis bench against a fleet scaled from zero', { timeout: 120_000 }, () => {
  let server: TestServer;
  let hookPort: number;

  beforeAll(async () => {
    hookPort = await freePort();
    const fleetFile = join(dir, 'fleet.yaml');
    writeFileSync(
      fleetFile,
      [
        'pools:',
        '  local:',
        '    provider: process',
        '    min: 0',
        '    max: 2',
        '    scale_down_s: 3',
        '    cold_start_s: 0 # no anticipated spares: the pool empties scale_down_s after its last job',
        '    price_per_gpu_second: 0.001',
        '    process:',
        `      command: "${process.execPath} ${BIN} comfy-lite --port {port}"`,
        '',
      ].join('\n'),
    );
    server = await startTestServer({
      settings: { comfyLite: 0, fleet: fleetFile, fetchAllow: [`127.0.0.1:${hookPort}`] },
    });
  });
  afterAll(async () => {
    await server.close();
  });

  it('passes every check, shows a cold start and writes report.json, report.md and timeline.svg', async () => {
    const out = join(dir, 'full');
    const r = await bench([
      '--server',
      server.url,
      '--out',
      out,
      '--webhook-receiver',
      `http://127.0.0.1:${hookPort}/hook`,
      '--job-timeout',
      '60',
    ]);
    const report = readReport(out);
    const failed = report.checks.filter((c: any) => c.status !== 'pass');
    expect(failed, JSON.stringify(failed, null, 2)).toEqual([]);
    expect(r.code).toBe(0);
    expect(report.checks.map((c: any) => c.name)).toEqual([
      'cold',
      'warm',
      'concurrency',
      'cancel',
      'quota_burst',
      'auth',
      'outputs',
      'webhooks',
      'cost',
    ]);
    const cold = check(report, 'cold');
    expect(cold.figures.cold_start).toEqual({ label: expect.any(String), value: true, unit: 'bool' });
    expect(cold.figures.total.unit).toBe('s');
    expect(cold.figures.total.value).toBeGreaterThan(0);
    expect(cold.details.join('\n')).toMatch(/pool local: 0 → 1 worker/);
    expect(check(report, 'quota_burst').figures.admitted.value).toBe(5);
    expect(check(report, 'cost').figures.cost.value).toBeGreaterThan(0);
    for (const c of report.checks)
      for (const f of Object.values<any>(c.figures)) expect(f.unit).toEqual(expect.any(String));
    expect(report.jobs.some((j: any) => j.status === 'cancelled')).toBe(true);

    const md = readFileSync(join(out, 'report.md'), 'utf8');
    expect(md).toContain('**Verdict: PASS**');
    expect(md).toMatch(/^\| cold job \| \d+\.\d\d s \| \d+\.\d\d s \| \d+\.\d\d s \|$/m);
    expect(md).toMatch(/^\| warm jobs p95 \|/m);
    const svg = readFileSync(join(out, 'timeline.svg'));
    const meta = await sharp(svg).metadata();
    expect(meta.format).toBe('svg');
    expect(svg.toString()).toContain('✕');
    expect(r.stdout).toContain('verdict: pass');
    // The run leaves no working key behind (its accounts stay: the API cannot delete them).
    const accounts = (await server.admin('GET', '/v1/admin/accounts')).body.data.filter((a: any) =>
      String(a.name).startsWith('arrakis-bench '),
    );
    expect(accounts.length).toBeGreaterThanOrEqual(2);
    for (const a of accounts) {
      const keys = (await server.admin('GET', `/v1/admin/accounts/${a.id}/keys`)).body.data;
      expect(keys.length).toBeGreaterThan(0);
      expect(
        keys.every((k: any) => k.revoked_at !== null),
        JSON.stringify(keys),
      ).toBe(true);
    }

    // A second run with the first as baseline: cold waits for the pool to scale back to zero first, and the
    // report compares figure by figure.
    const again = join(dir, 'again');
    const r2 = await bench([
      '--server',
      server.url,
      '--out',
      again,
      '--checks',
      'cold,warm',
      '--baseline',
      join(out, 'report.json'),
    ]);
    const second = readReport(again);
    expect(check(second, 'cold').status, check(second, 'cold').summary).toBe('pass');
    expect(check(second, 'cold').figures.cold_start.value).toBe(true);
    expect(check(second, 'concurrency')).toMatchObject({
      status: 'not_run',
      summary: 'not selected (--checks)',
    });
    expect(r2.code).toBe(0);
    const md2 = readFileSync(join(again, 'report.md'), 'utf8');
    expect(md2).toMatch(/^\| warm \| total p50 \| \d+\.\d\d s \| \d+\.\d\d s \| [+-]\d+% \|$/m);
    expect(md2).toMatch(/^\| cold job \| \d+\.\d\d s \(was \d+\.\d\d s\) \|/m);
  });
});

describe('planted faults', { timeout: 90_000 }, () => {
  it('a worker killed during the warm check fails warm with exit code 1', async () => {
    const comfy = spawn(process.execPath, [BIN, 'comfy-lite', '--port', '0'], { cwd: ROOT });
    const comfyUrl = await new Promise<string>((resolve, reject) => {
      let text = '';
      comfy.stdout.on('data', (c: Buffer) => {
        text += c.toString();
        const m = /comfy-lite listening on (\S+)/.exec(text);
        if (m !== null) resolve(m[1]!);
      });
      comfy.on('exit', () => reject(new Error(`comfy-lite exited: ${text}`)));
    });
    const server = await startTestServer({ settings: { comfyui: [comfyUrl] } });
    const workflow = join(dir, 'delay.json');
    writeFileSync(workflow, JSON.stringify(delayWorkflow(3)));
    const out = join(dir, 'killed');
    let killed: ChildProcess | null = null;
    try {
      const r = await bench(
        [
          '--server',
          server.url,
          '--out',
          out,
          '--checks',
          'cold,warm',
          '--workflow',
          workflow,
          '--job-timeout',
          '10',
        ],
        (stderr) => {
          if (killed === null && stderr.includes('warm started')) {
            killed = comfy;
            setTimeout(() => comfy.kill('SIGKILL'), 1000);
          }
        },
      );
      expect(r.code).toBe(1);
      const report = readReport(out);
      expect(check(report, 'cold')).toMatchObject({
        status: 'not_run',
        summary: expect.stringMatching(/no autoscaled pool/),
      });
      const warm = check(report, 'warm');
      expect(warm.status, warm.summary).toBe('fail');
      expect(warm.summary).toMatch(/went back to the queue|still (queued|running)|ended failed/);
      expect(r.stdout).toContain('verdict: fail (warm)');
    } finally {
      comfy.kill('SIGKILL');
      await server.close();
    }
  });

  it('a server that admits one job over the limit fails quota_burst with exit code 1', async () => {
    const standIn = await startQuotaStandIn();
    const out = join(dir, 'quota');
    try {
      const r = await bench(['--server', standIn.url, '--out', out, '--checks', 'quota_burst']);
      expect(r.code).toBe(1);
      const quota = check(readReport(out), 'quota_burst');
      expect(quota.status).toBe('fail');
      expect(quota.figures.admitted).toEqual({ label: 'admitted', value: 6, unit: 'count' });
      expect(quota.figures.limit.value).toBe(5);
      expect(r.stderr).toMatch(/✗ quota_burst/);
    } finally {
      await standIn.close();
    }
  });
});
