/**
 * The `process` provider: one local process per worker from a command template (one ComfyUI per GPU with
 * `CUDA_VISIBLE_DEVICES={gpu}`, or comfy-lite in tests). A worker is ready when its output prints the ready
 * line; stop sends SIGTERM, then SIGKILL after the grace period. With `gpus` and a `{gpu}` models folder
 * each GPU slot keeps its files across workers: a worker starts on a free slot whose folder holds its first
 * model when there is one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { KIND_FOLDERS } from '../../models/model-refs.js';
import type { PoolConfig, ProcessSettings } from '../fleet-file.js';
import { fillTemplate, splitWords } from './command-line.js';
import {
  ProviderError,
  type FleetProvider,
  type ListedWorker,
  type StartSpec,
  type StartedWorker,
} from './contract.js';
import { freePort } from '../../util/free-port.js';

interface Running {
  child: ChildProcess;
  gpu: string;
  url: string | null;
  exited: Promise<void>;
  graceMs: number;
}

export class ProcessProvider implements FleetProvider {
  readonly kind = 'process';
  private readonly running = new Map<string, Running>();

  constructor(private readonly settings: ProcessSettings) {}

  /** Spawns the command; `ready` resolves with the URL from the ready line. */
  async start(pool: PoolConfig, spec?: StartSpec): Promise<StartedWorker> {
    const gpu = this.freeGpu(pool.name, spec?.firstModel ?? null);
    const port = await freePort();
    const worker = spec?.workerId ?? `port-${port}`;
    const dirTemplate = this.settings.modelsDir;
    const modelsDir = dirTemplate === null ? null : fillTemplate(dirTemplate, { port, gpu, worker });
    // The worker's model cache and its ComfyUI find the folder there from the start.
    if (modelsDir !== null) await mkdir(modelsDir, { recursive: true });
    const fill = (s: string) =>
      fillTemplate(s, { port, gpu, worker, ...(modelsDir === null ? {} : { modelsDir }) });
    const [cmd, ...args] = splitWords(fill(this.settings.command));
    if (cmd === undefined) throw new ProviderError(`pool ${pool.name}: process.command is empty`);
    const env = {
      ...process.env,
      ...Object.fromEntries(Object.entries(this.settings.env).map(([k, v]) => [k, fill(v)])),
    };
    const child = spawn(cmd, args, {
      env,
      cwd: this.settings.cwd ?? undefined,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // A command that cannot be spawned emits 'error' (and maybe no 'exit'): both end the worker.
    const exited = new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', () => resolve());
    });
    const ref = String(child.pid ?? `failed-${port}`);
    const entry: Running = { child, gpu, url: null, exited, graceMs: this.settings.stopGraceMs };
    this.running.set(ref, entry);
    void exited.then(() => this.running.delete(ref));
    const ready = this.awaitReady(child, port, exited).then(
      (url) => {
        entry.url = url;
        return url;
      },
      async (err: unknown) => {
        await this.stop(ref);
        throw err;
      },
    );
    return { ref, ready, modelsDir };
  }

  /** The first free GPU slot, or the first free one whose folder already holds `firstModel`. */
  private freeGpu(pool: string, firstModel: string | null): string {
    const gpus = this.settings.gpus;
    if (gpus === null) return '';
    const used = new Set([...this.running.values()].map((r) => r.gpu));
    const free = gpus.filter((g) => !used.has(g));
    if (free.length === 0)
      throw new ProviderError(`pool ${pool}: every listed gpu (${gpus.join(', ')}) has a worker`);
    const holding =
      firstModel === null || free.length < 2 ? [] : free.filter((g) => this.holds(g, firstModel));
    return holding[0] ?? free[0]!;
  }

  /** Whether a GPU slot's own models folder (a `models_dir` set by `{gpu}` alone) has the file in any kind's folder. */
  private holds(gpu: string, model: string): boolean {
    const template = this.settings.modelsDir;
    if (template === null || !template.includes('{gpu}') || /\{(port|worker)\}/.test(template)) return false;
    if (model.split(/[\\/]/).includes('..')) return false;
    const dir = fillTemplate(template, { port: 0, gpu });
    return Object.values(KIND_FOLDERS).some((folder) => existsSync(join(dir, folder, model)));
  }

  private awaitReady(child: ChildProcess, port: number, exited: Promise<void>): Promise<string> {
    const pattern = new RegExp(this.settings.readyPattern);
    return new Promise<string>((resolve, reject) => {
      let seen = '';
      const timer = setTimeout(
        () =>
          reject(
            new ProviderError(
              `worker did not print its ready line within ${this.settings.startTimeoutMs} ms`,
            ),
          ),
        this.settings.startTimeoutMs,
      );
      const onData = (chunk: Buffer) => {
        // Keep a bounded tail: the ready line is short, a chatty process must not grow this forever.
        seen = (seen + chunk.toString('utf8')).slice(-8192);
        const m = pattern.exec(seen);
        if (m === null) return;
        clearTimeout(timer);
        resolve(m[1] ?? `http://127.0.0.1:${port}`);
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      void exited.then(() => {
        clearTimeout(timer);
        reject(
          new ProviderError(
            `worker exited before it was ready (exit code ${child.exitCode ?? child.signalCode})`,
          ),
        );
      });
    });
  }

  /** SIGTERM, then SIGKILL if the process is still there after the grace period. */
  async stop(ref: string): Promise<void> {
    const r = this.running.get(ref);
    if (r === undefined || r.child.exitCode !== null || r.child.signalCode !== null) return;
    r.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        r.child.kill('SIGKILL');
        resolve();
      }, r.graceMs);
    });
    await Promise.race([r.exited, killed]);
    clearTimeout(timer);
    await r.exited;
  }

  /** Processes started here that are still alive. */
  async list(): Promise<ListedWorker[]> {
    return [...this.running.entries()].map(([ref, r]) => ({ ref, comfyUrl: r.url }));
  }
}
