/**
 * `--comfy-lite N` runs comfy-lite in supervised child processes (issue 9, item 4): no job can take the control
 * plane down. An oversized image fails its job with a clear error; a SIGKILLed child is restarted and the next job
 * runs; serve's shutdown (and serve's own death) leaves no comfy-lite process behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN_KEY,
  client,
  createTenant,
  delayWorkflow,
  invertWorkflow,
  isTerminal,
  startTestServer,
  waitForJob,
  type TestServer,
} from '../support/server.js';
import { ARRAKIS_BIN as BIN } from '../support/processes.js';

/** True while a process with this pid exists (and is not a zombie). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Pids whose parent is `ppid` (Linux /proc). */
function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === ppid) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

async function until(what: string, check: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('serve --comfy-lite 1 (library)', () => {
  let server: TestServer;
  let c: ReturnType<typeof client>;

  beforeAll(async () => {
    server = await startTestServer({ settings: { comfyLite: 1, leaseSeconds: 5 } });
    const t = await createTenant(server, {
      limits: { submit_rate_per_user: 1000, submit_burst_per_user: 1000 },
    });
    c = client(server, t.key, 'alice');
  });
  afterAll(async () => {
    const pids = server.cp.workers.comfyLiteChildren.map((k) => k.pid).filter((p): p is number => p !== null);
    await server.close();
    for (const pid of pids) expect(alive(pid), `comfy-lite child ${pid} after close`).toBe(false);
  });

  it('comfy-lite runs in a child process, not in serve', () => {
    const [child] = server.cp.workers.comfyLiteChildren;
    expect(child?.pid).toBeGreaterThan(0);
    expect(child?.pid).not.toBe(process.pid);
    expect(server.cp.workers.comfyLites).toHaveLength(0);
  });

  it('EmptyImage 16384×16384 ×4 fails that job with a clear error; serve stays up and runs the next job', async () => {
    const huge = await c.submit({
      workflow: {
        '1': { class_type: 'EmptyImage', inputs: { width: 16384, height: 16384, batch_size: 4, color: 0 } },
        '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'huge' } },
      },
    });
    expect(huge.status).toBe(202);
    const failed = await waitForJob(c, huge.body.id, isTerminal, 30_000);
    expect(failed.status).toBe('failed');
    expect(failed.error.code).toBe('execution_error');
    expect(failed.error.message).toContain('--max-pixels');
    expect(server.cp.workers.comfyLiteChildren[0]?.restarts).toBe(0);
    const next = await c.submit({ workflow: invertWorkflow() });
    expect((await waitForJob(c, next.body.id, isTerminal, 30_000)).status).toBe('completed');
  });

  it('a SIGKILLed child is restarted; its running job is retried and the next job completes', async () => {
    const child = server.cp.workers.comfyLiteChildren[0]!;
    const before = child.pid!;
    const running = await c.submit({ workflow: delayWorkflow(3) });
    await waitForJob(c, running.body.id, (j) => j.status === 'running', 30_000);
    process.kill(before, 'SIGKILL');
    await until(
      'the child is restarted',
      () => child.restarts === 1 && child.pid !== null && child.pid !== before,
    );
    expect(alive(before)).toBe(false);
    // The job on the dead child is released like any worker loss and retried on the restarted one.
    const retried = await waitForJob(c, running.body.id, isTerminal, 60_000);
    expect(retried.status).toBe('completed');
    expect(retried.attempt ?? 2).toBeGreaterThanOrEqual(1);
    const next = await c.submit({ workflow: invertWorkflow(0x303030) });
    expect((await waitForJob(c, next.body.id, isTerminal, 30_000)).status).toBe('completed');
  });
});

describe('arrakis serve --comfy-lite 1 (process)', () => {
  const procs: ChildProcess[] = [];
  const dirs: string[] = [];

  afterEach(async () => {
    for (const p of procs.splice(0)) {
      if (p.exitCode === null && p.signalCode === null) {
        p.kill('SIGKILL');
        await once(p, 'exit');
      }
    }
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  async function startServe(): Promise<{ proc: ChildProcess; comfyPid: number }> {
    const dir = mkdtempSync(join(tmpdir(), 'arrakis-serve-'));
    dirs.push(dir);
    const args = [
      'serve',
      '--port',
      '0',
      '--comfy-lite',
      '1',
      '--log-level',
      'silent',
      '--admin-key',
      ADMIN_KEY,
    ];
    args.push('--db', `sqlite:${join(dir, 'a.db')}`, '--storage', `file:${join(dir, 'objects')}`);
    const proc = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    procs.push(proc);
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => (out += String(d)));
    await until('serve listens', () => out.includes('arrakis listening on'), 60_000);
    let comfyPid = 0;
    await until(
      'its comfy-lite child runs',
      () => {
        comfyPid =
          childrenOf(proc.pid!).find((pid) =>
            readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('comfy-lite'),
          ) ?? 0;
        return comfyPid > 0;
      },
      60_000,
    );
    return { proc, comfyPid };
  }

  it('SIGTERM: serve stops its comfy-lite child and exits cleanly', async () => {
    const { proc, comfyPid } = await startServe();
    proc.kill('SIGTERM');
    const [code] = (await once(proc, 'exit')) as [number | null];
    expect(code).toBe(0);
    await until('the child is gone', () => !alive(comfyPid), 10_000);
  });

  it('SIGKILL of serve: the comfy-lite child exits on its own (no orphan)', async () => {
    const { proc, comfyPid } = await startServe();
    proc.kill('SIGKILL');
    await once(proc, 'exit');
    await until('the orphaned child exits', () => !alive(comfyPid), 10_000);
  });
});
