/**
 * The control plane process killed (SIGKILL) while a job runs, then started again on the same database:
 * nothing is lost — the job's lease expires, it is retried, and it completes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startComfyLite, type ComfyLiteServer } from '../../src/comfy-lite/server.js';
import { freePort } from '../../src/util/free-port.js';
import { ADMIN_KEY, client, createTenant, delayWorkflow, isTerminal, waitForJob } from '../support/server.js';
import { ARRAKIS_BIN as BIN } from '../support/processes.js';

const dir = mkdtempSync(join(tmpdir(), 'arrakis-restart-'));
const procs: ChildProcess[] = [];
let lite: ComfyLiteServer | null = null;

afterAll(async () => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await lite?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function serve(port: number, comfyUrl: string): Promise<{ url: string; proc: ChildProcess }> {
  const proc = spawn(
    process.execPath,
    [
      BIN,
      'serve',
      '--port',
      String(port),
      '--db',
      `sqlite:${join(dir, 'a.db')}`,
      '--storage',
      `file:${join(dir, 'objects')}`,
      '--comfyui',
      comfyUrl,
      '--admin-key',
      ADMIN_KEY,
      '--lease-seconds',
      '2',
      '--log-level',
      'silent',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  procs.push(proc);
  return await new Promise((resolve, reject) => {
    let out = '';
    // Keep reading stdout for the life of the process (it prints again when it shuts down).
    proc.stdout!.on('data', (chunk: Buffer) => {
      out += String(chunk);
      const m = /arrakis listening on (http:\/\/\S+)/.exec(out);
      if (m?.[1] !== undefined) resolve({ url: m[1], proc });
    });
    proc.once('exit', () => reject(new Error(`serve exited before it was ready: ${out}`)));
  });
}

describe('restart', () => {
  it('a job running when the server is killed completes after the restart', async () => {
    lite = await startComfyLite({ port: 0 });
    const port = await freePort();
    const first = await serve(port, lite.url);
    const admin = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${first.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as any };
    };
    const t = await createTenant({ admin } as never);
    const c = client(first, t.key, 'alice');
    const job = await c.submit({ workflow: delayWorkflow(1.5) });
    expect(job.status).toBe(202);
    await waitForJob(c, job.body.id, (j) => j.status === 'running');
    first.proc.kill('SIGKILL');
    await once(first.proc, 'exit');

    const second = await serve(port, lite.url);
    const c2 = client(second, t.key, 'alice');
    const done = await waitForJob(c2, job.body.id, isTerminal, 30_000);
    expect(done.status).toBe('completed');
    expect(done.outputs).toHaveLength(1);
    second.proc.kill('SIGTERM');
    const [code] = await once(second.proc, 'exit');
    expect(code).toBe(0);
  });
});
