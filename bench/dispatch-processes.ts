/**
 * The processes bench/dispatch runs beside itself, as they run in production (comfy-lite, `arrakis serve`,
 * `arrakis agent`, the bare relay), each a node child process ready once its stdout says so, and the CPU a
 * process has used (from /proc).
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A child process that said it is ready: what its ready line named (a URL, a worker id), its pid, a stop. */
export interface ChildProcess {
  ready: string;
  pid: number | undefined;
  /** SIGTERM, then resolves once it exited. */
  close(): Promise<void>;
}

const BIN = join(import.meta.dirname, '..', 'bin', 'arrakis.mjs');

/**
 * `node argv` with this process's stderr, ready once its stdout matches `ready` (the first group is what it
 * names). Once ready its stdout is only drained (the last 8 KiB kept for an exit message): kept whole and
 * searched again per chunk, a child's log lines cost this process time that grows with every job.
 */
async function spawnNode(
  name: string,
  argv: string[],
  ready: RegExp,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ChildProcess> {
  const proc = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'inherit'], env });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  return await new Promise((resolve, reject) => {
    let out = '';
    let isReady = false;
    proc.stdout.on('data', (chunk: Buffer) => {
      out = (out + String(chunk)).slice(-8192);
      if (isReady) return;
      const m = ready.exec(out);
      if (m?.[1] === undefined) return;
      isReady = true;
      resolve({
        ready: m[1],
        pid: proc.pid,
        close: async () => {
          proc.kill('SIGTERM');
          await exited;
        },
      });
    });
    proc.once('exit', () => reject(new Error(`${name} exited: ${out}`)));
  });
}

/** `arrakis comfy-lite --port 0`; `ready` is its URL. */
export async function spawnComfyLite(): Promise<ChildProcess> {
  return await spawnNode(
    'comfy-lite',
    [BIN, 'comfy-lite', '--port', '0'],
    /comfy-lite listening on (http:\/\/\S+)\s/,
  );
}

/** bench/dispatch-bare-relay.ts in front of `comfyUrl`, accepting `key`; `ready` is its URL. */
export async function spawnBareRelay(comfyUrl: string, relayDir: string, key: string): Promise<ChildProcess> {
  const script = join(import.meta.dirname, 'dispatch-bare-relay.ts');
  return await spawnNode(
    'bare relay',
    ['--import', 'tsx', script, comfyUrl, relayDir, key],
    /bare relay listening on (http:\/\/\S+)\s/,
  );
}

/**
 * `arrakis serve` on the database and storage given, with in-process agents on `comfyui` (none: only remote
 * agents run its jobs); `ready` is its URL. `profileDir` writes a V8 CPU profile of it there.
 */
export async function spawnServe(config: {
  /** Another checkout's `bin/arrakis.mjs` (bench/dispatch `--compare`); this checkout's by default. */
  bin?: string;
  db: string;
  storage: string;
  comfyui: readonly string[];
  adminKey: string;
  logLevel: string;
  profileDir?: string | undefined;
}): Promise<ChildProcess> {
  const nodeArgs =
    config.profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${config.profileDir}`];
  return await spawnNode(
    'serve',
    [...nodeArgs, config.bin ?? BIN, 'serve', '--port', '0'],
    /arrakis listening on (http:\/\/\S+)\s/,
    {
      ...process.env,
      ARRAKIS_DB: config.db,
      ARRAKIS_STORAGE: config.storage,
      ARRAKIS_COMFYUI: config.comfyui.join(','),
      ARRAKIS_ADMIN_KEY: config.adminKey,
      ARRAKIS_LOG_LEVEL: config.logLevel,
    },
  );
}

/**
 * `arrakis agent --server … --token-file … --comfyui …`, as a GPU worker runs it; `ready` is its worker id
 * (from the line it prints once registered).
 */
export async function spawnAgent(config: {
  server: string;
  tokenFile: string;
  comfyui: string;
  logLevel: string;
  /** Writes a V8 CPU profile of the agent there. */
  profileDir?: string | undefined;
}): Promise<ChildProcess> {
  const profile =
    config.profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${config.profileDir}`];
  return await spawnNode(
    'agent',
    [
      ...profile,
      BIN,
      'agent',
      '--server',
      config.server,
      '--token-file',
      config.tokenFile,
      '--comfyui',
      config.comfyui,
      '--name',
      'bench-agent',
      '--log-level',
      config.logLevel,
    ],
    /arrakis agent (\S+) serving /,
  );
}

/**
 * CPU seconds a process (every thread: event loop, GC, libuv pool, worker threads) has used so far, from
 * /proc (Linux); null elsewhere or without a pid.
 */
export function cpuSeconds(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return null;
  }
}
const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();
