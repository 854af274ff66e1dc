/**
 * `arrakis run` as a process against a control plane with a comfy-lite worker: outputs saved under their
 * file names, timings printed, exit status from the job's end; request bodies, bare API prompts, bare UI
 * exports, templates with --param and --input uploads.
 */
import { execFile, spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTenant,
  delayWorkflow,
  solidPng,
  startTestServer,
  type TestServer,
} from '../support/server.js';
import { writeFileSync } from 'node:fs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin/arrakis.mjs');

let server: TestServer;
let key: string;
let dir: string;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `arrakis …` from the repository root with the job credentials in the environment. */
function arrakis(args: string[], env: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: ROOT, env: { ...process.env, ARRAKIS_KEY: key, ARRAKIS_USER: 'cli-user', ...env } },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

beforeAll(async () => {
  server = await startTestServer({ settings: { comfyLite: 1 } });
  key = (
    await createTenant(server, {
      limits: { max_active_jobs_per_user: 20, submit_rate_per_user: 1000, submit_burst_per_user: 1000 },
    })
  ).key;
  dir = mkdtempSync(join(tmpdir(), 'arrakis-run-'));
});
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

// Each run is a fresh Node process (~1 s alone, several on a loaded 2-core machine).
describe('arrakis run', { timeout: 120_000 }, () => {
  it('runs examples/invert.json and writes the PNG into --out', async () => {
    const out = join(dir, 'invert');
    const r = await arrakis(['run', 'examples/invert.json', '--server', server.url, '--out', out]);
    expect(r.stderr).not.toContain('arrakis:');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^job job_\S+ queued$/m);
    expect(r.stdout).toMatch(/^completed: queue \d+\.\d\d s, run \d+\.\d\d s, total \d+\.\d\d s$/m);
    const files = readdirSync(out);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^invert_\d{5}_\.png$/);
    expect(r.stdout).toContain(`saved ${join(out, files[0]!)}`);
    const { data, info } = await sharp(join(out, files[0]!)).raw().toBuffer({ resolveWithObject: true });
    expect(info.width).toBe(64);
    for (const v of data.subarray(0, 3)) expect([238, 239]).toContain(v);
  });

  it('runs a bare UI-format export and a bare API-format prompt', async () => {
    for (const [name, file] of [
      ['ui', 'examples/ui/blur.json'],
      ['api', join(dir, 'prompt.json')],
    ] as const) {
      writeFileSync(join(dir, 'prompt.json'), JSON.stringify(delayWorkflow(0.3)));
      const r = await arrakis(['run', file, '--server', server.url, '--out', join(dir, name)]);
      expect(r.code, r.stderr).toBe(0);
      expect(readdirSync(join(dir, name))).toHaveLength(1);
    }
  });

  it('prints plain progress lines when stderr is not a terminal', async () => {
    writeFileSync(join(dir, 'slow.json'), JSON.stringify({ workflow: delayWorkflow(1) }));
    const r = await arrakis([
      'run',
      join(dir, 'slow.json'),
      '--server',
      server.url,
      '--out',
      join(dir, 'slow'),
    ]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^status running$/m);
    expect(r.stderr).toMatch(/^progress \d+%/m);
    expect(r.stderr).not.toContain('\r');
  });

  it('runs a template with --param and an uploaded --input', async () => {
    const t = await server.admin('POST', '/v1/admin/templates', {
      name: 'scale',
      workflow: {
        '1': { class_type: 'LoadImage', inputs: { image: 'photo' } },
        '2': {
          class_type: 'ImageScale',
          inputs: { image: ['1', 0], upscale_method: 'nearest-exact', width: 8, height: 6, crop: 'disabled' },
        },
        '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'scaled' } },
      },
      params: [{ name: 'width', type: 'integer', node: '2', input: 'width' }],
    });
    expect(t.status).toBe(201);
    const photo = join(dir, 'photo.png');
    writeFileSync(photo, await solidPng(16, 12, [0, 200, 0]));
    const out = join(dir, 'template');
    const r = await arrakis([
      'run',
      '--template',
      'scale',
      '--param',
      'width=5',
      '--input',
      `photo=${photo}`,
      '--server',
      server.url,
      '--out',
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const [file] = readdirSync(out);
    const meta = await sharp(join(out, file!)).metadata();
    expect([meta.width, meta.height]).toEqual([5, 6]);
  });

  it('exits non-zero with the server code when the job is refused, and when it does not complete', async () => {
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ '1': { class_type: 'NoSuchNode', inputs: {} } }));
    const refused = await arrakis(['run', join(dir, 'bad.json'), '--server', server.url]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/workflow_invalid: .*NoSuchNode/);

    // A node raises on the worker (a blur radius larger than the image): the job fails. (An input ComfyUI's
    // validation refuses, such as a width above its maximum, is now refused at submission.)
    writeFileSync(
      join(dir, 'rejected.json'),
      JSON.stringify({
        '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
        '2': { class_type: 'ImageBlur', inputs: { image: ['1', 0], blur_radius: 20, sigma: 1 } },
        '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'x' } },
      }),
    );
    const failed = await arrakis([
      'run',
      join(dir, 'rejected.json'),
      '--server',
      server.url,
      '--out',
      join(dir, 'none'),
    ]);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(/^failed: /m);
    expect(failed.stderr).toMatch(/arrakis: job job_\S+ failed: \w+/);
  });

  it('says how to set ARRAKIS_KEY when it is missing', async () => {
    const r = await arrakis(['run', 'examples/invert.json', '--server', server.url], { ARRAKIS_KEY: '' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('ARRAKIS_KEY is not set: export ARRAKIS_KEY=');
  });

  it('cancels the job on the first Ctrl-C, waits for it to end and exits 1', async () => {
    writeFileSync(join(dir, 'long.json'), JSON.stringify(delayWorkflow(60)));
    const child = spawn(process.execPath, [BIN, 'run', join(dir, 'long.json'), '--server', server.url], {
      cwd: ROOT,
      env: { ...process.env, ARRAKIS_KEY: key, ARRAKIS_USER: 'cli-user' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += String(c)));
    const submitted = new Promise<string>((resolve) => {
      child.stdout.on('data', (c) => {
        stdout += String(c);
        const m = /^job (job_\S+) /m.exec(stdout);
        if (m !== null) resolve(m[1]!);
      });
    });
    const exit = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    const id = await submitted;
    // Once the job runs, Ctrl-C.
    const deadline = Date.now() + 30_000;
    let status = '';
    while (status !== 'running' && Date.now() < deadline) {
      const res = await fetch(`${server.url}/v1/jobs/${id}`, {
        headers: { authorization: `Bearer ${key}`, 'x-user-id': 'cli-user' },
      });
      status = ((await res.json()) as { status: string }).status;
      if (status !== 'running') await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe('running');
    child.kill('SIGINT');
    // On a mismatch the report shows how the command ended and what it printed.
    expect({ ...(await exit), stdout, stderr }).toMatchObject({ code: 1, signal: null });
    expect(stderr).toContain(`cancelling ${id}`);
    expect(stdout).toMatch(/^cancelled: /m);
    const res = await fetch(`${server.url}/v1/jobs/${id}`, {
      headers: { authorization: `Bearer ${key}`, 'x-user-id': 'cli-user' },
    });
    expect(((await res.json()) as { status: string }).status).toBe('cancelled');
  });

  /** `arrakis run` of `file` against `url` as a child process, with its output collected as it comes. */
  function runChild(file: string, url: string) {
    const child = spawn(process.execPath, [BIN, 'run', file, '--server', url], {
      cwd: ROOT,
      env: { ...process.env, ARRAKIS_KEY: key, ARRAKIS_USER: 'cli-user' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = { stdout: '', stderr: '' };
    child.stdout.on('data', (c) => (out.stdout += String(c)));
    child.stderr.on('data', (c) => (out.stderr += String(c)));
    const exit = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    const printed = async (text: string): Promise<void> => {
      for (let i = 0; i < 300 && !out.stderr.includes(text); i++)
        await new Promise((r) => setTimeout(r, 100));
      expect(out.stderr).toContain(text);
    };
    return { child, out, exit, printed };
  }

  /** A TCP proxy to `target` that holds each connection (its bytes wait) until `release`. */
  async function holdingProxy(target: string) {
    const { hostname, port } = new URL(target);
    let release = (): void => {};
    const released = new Promise<void>((resolve) => (release = resolve));
    let onConnection = (): void => {};
    const connected = new Promise<void>((resolve) => (onConnection = resolve));
    const proxy = createServer((client) => {
      client.pause();
      onConnection();
      void released.then(() => {
        const upstream = connect(Number(port), hostname);
        client.pipe(upstream).on('error', () => client.destroy());
        upstream.pipe(client).on('error', () => upstream.destroy());
        client.resume();
      });
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
    return { url, connected, release, close: () => proxy.close() };
  }

  it('cancels the job once accepted on a Ctrl-C during the submission, and exits 1', async () => {
    writeFileSync(join(dir, 'long-submit.json'), JSON.stringify(delayWorkflow(60)));
    const proxy = await holdingProxy(server.url);
    try {
      const run = runChild(join(dir, 'long-submit.json'), proxy.url);
      await proxy.connected;
      run.child.kill('SIGINT');
      await run.printed('cancelling the job once the server has accepted it');
      proxy.release();
      // On a mismatch the report shows how the command ended and what it printed.
      expect({ ...(await run.exit), ...run.out }).toMatchObject({ code: 1, signal: null });
      const id = /^job (job_\S+) /m.exec(run.out.stdout)?.[1];
      expect(run.out.stdout).toMatch(/^cancelled: /m);
      const res = await fetch(`${server.url}/v1/jobs/${id}`, {
        headers: { authorization: `Bearer ${key}`, 'x-user-id': 'cli-user' },
      });
      expect(((await res.json()) as { status: string }).status).toBe('cancelled');
    } finally {
      proxy.release();
      proxy.close();
    }
  }, 60_000);

  it('leaves with exit 130, not killed by the signal, on a second Ctrl-C during the submission', async () => {
    // A server that takes the submission's connection and never answers.
    let onConnection = (): void => {};
    const connected = new Promise<void>((resolve) => (onConnection = resolve));
    const silent = createServer(() => onConnection());
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    try {
      const run = runChild('examples/invert.json', `http://127.0.0.1:${port}`);
      await connected;
      run.child.kill('SIGINT');
      await run.printed('Ctrl-C again to leave');
      run.child.kill('SIGINT');
      expect(await run.exit).toEqual({ code: 130, signal: null });
    } finally {
      silent.close();
    }
  }, 60_000);
});
