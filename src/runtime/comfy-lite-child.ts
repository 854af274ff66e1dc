/**
 * `--comfy-lite N` runs each comfy-lite as a child process (`arrakis comfy-lite`), never inside serve: a job
 * that exhausts memory or crashes the image code takes down its child, not the control plane. A child that dies
 * is started again on the same port and data folder, so its agent (which waits for ComfyUI's health check)
 * picks it up again; the job it was running is released like any worker loss. Children read stdin and exit when
 * it closes, so they never outlive a serve that was killed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { Backoff } from '../util/backoff.js';
import { freePort } from '../util/free-port.js';

const BIN = new URL('../../bin/arrakis.mjs', import.meta.url).pathname;
const READY = /comfy-lite listening on (http:\/\/\S+)/;
const START_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 5_000;
/** A child that stayed up this long was healthy: the next crash restarts it without backoff. */
const STABLE_MS = 30_000;

export interface ComfyLiteChildOptions {
  /** Worker number, for logs. */
  index: number;
  maxPixels: number;
  log: Logger;
  /** Delay before a restart: starts at `min`, doubles per crash in a row, at most `max` (defaults 200 ms, 10 s). */
  restartBackoffMs?: { min: number; max: number };
}

/** One supervised comfy-lite process, restarted on the same port whenever it dies, until stop(). */
export class ComfyLiteChild {
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private stopping = false;
  /** Restart delays; reset when a child stayed up STABLE_MS, so its failure count is the crashes in a row. */
  private readonly restartBackoff: Backoff;
  private restartTimer: NodeJS.Timeout | null = null;
  private restartCount = 0;

  private constructor(
    readonly url: string,
    private readonly port: number,
    private readonly dataDir: string,
    private readonly options: ComfyLiteChildOptions,
  ) {
    const { min, max } = options.restartBackoffMs ?? { min: 200, max: 10_000 };
    // No jitter: one supervisor per child, so there is no crowd of retries to spread out.
    this.restartBackoff = new Backoff({ minMs: min, maxMs: max, jitter: 0 });
  }

  /** Starts the child; resolves once it listens. */
  static async start(options: ComfyLiteChildOptions): Promise<ComfyLiteChild> {
    const port = await freePort();
    const dataDir = await mkdtemp(join(tmpdir(), 'arrakis-comfy-lite-'));
    const lite = new ComfyLiteChild(`http://127.0.0.1:${port}`, port, dataDir, options);
    try {
      await lite.spawnOnce();
    } catch (err) {
      await lite.stop();
      throw err;
    }
    return lite;
  }

  /** The running child's pid (null between a crash and its restart). */
  get pid(): number | null {
    return this.child?.exitCode === null && this.child.signalCode === null ? (this.child.pid ?? null) : null;
  }

  /** How many times the child was started again after dying. */
  get restarts(): number {
    return this.restartCount;
  }

  private spawnOnce(): Promise<void> {
    const args = [BIN, 'comfy-lite', '--host', '127.0.0.1', '--port', String(this.port)];
    args.push(
      '--data-dir',
      this.dataDir,
      '--max-pixels',
      String(this.options.maxPixels),
      '--exit-with-parent',
    );
    const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    const startedAt = Date.now();
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        resolve();
        this.onExit(code, signal, Date.now() - startedAt);
      });
      child.once('error', () => resolve());
    });
    child.stdin?.on('error', () => {});
    child.stderr?.on('data', (chunk: Buffer) => {
      this.options.log.warn(
        { worker: this.options.index, stderr: chunk.toString('utf8').slice(0, 2000) },
        'comfy-lite',
      );
    });
    return this.awaitReady(child);
  }

  private awaitReady(child: ChildProcess): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let seen = '';
      const timer = setTimeout(() => reject(new Error('comfy-lite did not start in time')), START_TIMEOUT_MS);
      const onData = (chunk: Buffer): void => {
        seen = (seen + chunk.toString('utf8')).slice(-4096);
        if (!READY.test(seen)) return;
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        resolve();
      };
      child.stdout?.on('data', onData);
      void this.exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`comfy-lite exited before it listened (${child.exitCode ?? child.signalCode})`));
      });
    });
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null, upMs: number): void {
    if (this.stopping) return;
    if (upMs >= STABLE_MS) this.restartBackoff.reset();
    const delay = this.restartBackoff.next();
    this.options.log.error(
      { worker: this.options.index, code, signal, restart_in_ms: delay },
      'comfy-lite child died; restarting it (its running job is released like any worker loss)',
    );
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.stopping) return;
      this.restartCount++;
      this.spawnOnce().catch((err: unknown) => {
        this.options.log.error({ worker: this.options.index, err: String(err) }, 'comfy-lite restart failed');
      });
    }, delay);
  }

  /** Test hook: sends `signal` to the running child (as the OOM killer would). */
  kill(signal: NodeJS.Signals): void {
    this.child?.kill(signal);
  }

  /** Stops the child for good: SIGTERM, SIGKILL after a grace period; removes its data folder. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer !== null) clearTimeout(this.restartTimer);
    const child = this.child;
    if (child !== null && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await this.exited;
      clearTimeout(timer);
    }
    await rm(this.dataDir, { recursive: true, force: true });
  }
}
