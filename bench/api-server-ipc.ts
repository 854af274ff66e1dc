/**
 * bench/api-server-ipc — the IPC protocol between bench/api.ts and the server children it forks
 * (bench/api-full-server.ts, bench/api-bare-server.ts), both ends in one file.
 *
 * A child listens on 127.0.0.1 port 0, seeds what the bench reads, then sends `ready` with the two targets to
 * measure (URL with the port, the job id to GET, the API key in the headers). Around each measured window the
 * bench sends `window-start` (optionally starting a CPU profile of the child itself), answered with `started`, and
 * `window-stop`, answered with `window`: the child's CPU time over the window, its heap used, and its GC pauses over the window (from a
 * PerformanceObserver on 'gc'), so a tail can be charged to the server's own collector. `close` closes the
 * server and exits. A child exits when the channel drops, so a bench killed hard leaves no server running.
 */
import { fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { z } from 'zod';

/** The workflow both servers admit (a tiny invert; no worker runs it). */
export const BENCH_WORKFLOW = {
  '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
  '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
  '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'out' } },
};

const targetSchema = z.object({
  url: z.string(),
  method: z.enum(['GET', 'POST']),
  headers: z.record(z.string(), z.string()),
  body: z.string().optional(),
});
/** One route to load: what autocannon and bench/open-loop.ts are given. */
export type Target = z.infer<typeof targetSchema>;

const toChildSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('window-start'), profile: z.boolean() }),
  z.object({ type: z.literal('window-stop'), profileFile: z.string().optional() }),
  z.object({ type: z.literal('close') }),
]);
type ToChild = z.infer<typeof toChildSchema>;

const gcSchema = z.object({
  count: z.number(),
  totalMs: z.number(),
  maxMs: z.number(),
  /** Of `count`, the mark-compact (major) collections. */
  major: z.number(),
});
/** GC pauses over one window, or summed over several. */
export type GcPauses = z.infer<typeof gcSchema>;

const windowSchema = z.object({
  type: z.literal('window'),
  /** The child's CPU time (user + system) over the window, µs. */
  cpuUs: z.number(),
  heapUsedBytes: z.number(),
  gc: gcSchema,
});
/** What a child reports for one measured window. */
export type WindowStats = Omit<z.infer<typeof windowSchema>, 'type'>;

/** A 'gc' performance entry's detail (Node's NodeGCPerformanceDetail, absent from this PerformanceEntry type). */
const gcDetailSchema = z.object({ kind: z.number() });

const readySchema = z.object({ type: z.literal('ready'), get: targetSchema, post: targetSchema });
const startedSchema = z.object({ type: z.literal('started') });

/** No pauses: the start of a sum. */
export const NO_GC: GcPauses = { count: 0, totalMs: 0, maxMs: 0, major: 0 };

/** Two windows' pauses as one. */
export function addGc(a: GcPauses, b: GcPauses): GcPauses {
  return {
    count: a.count + b.count,
    totalMs: a.totalMs + b.totalMs,
    maxMs: Math.max(a.maxMs, b.maxMs),
    major: a.major + b.major,
  };
}

/** Child side: announces the targets, then answers the bench's window requests until `close`. */
export function serveBenchWindows(targets: { get: Target; post: Target }, close: () => Promise<void>): void {
  const send = process.send?.bind(process);
  if (send === undefined) throw new Error('run by bench/api.ts (child_process.fork), not directly');
  let gc = NO_GC;
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const detail = gcDetailSchema.safeParse((e as { detail?: unknown }).detail);
      const major = detail.success && detail.data.kind === constants.NODE_PERFORMANCE_GC_MAJOR ? 1 : 0;
      gc = addGc(gc, { count: 1, totalMs: e.duration, maxMs: e.duration, major });
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  let cpu = process.cpuUsage();
  let session: Session | undefined;
  const handle = async (msg: ToChild): Promise<void> => {
    if (msg.type === 'window-start') {
      if (msg.profile) session = await startProfile();
      gc = NO_GC;
      cpu = process.cpuUsage();
      send({ type: 'started' });
    } else if (msg.type === 'window-stop') {
      const used = process.cpuUsage(cpu);
      // GC entries reach the observer a turn after the pause: let the window's last ones in.
      await new Promise((resolve) => setImmediate(resolve));
      const stats = { cpuUs: used.user + used.system, heapUsedBytes: process.memoryUsage().heapUsed, gc };
      if (session !== undefined && msg.profileFile !== undefined) await stopProfile(session, msg.profileFile);
      session = undefined;
      send({ type: 'window', ...stats });
    } else {
      observer.disconnect();
      await close();
      process.exit(0);
    }
  };
  process.on('message', (raw) => {
    handle(toChildSchema.parse(raw)).catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
  });
  process.on('disconnect', () => process.exit(1));
  send({ type: 'ready', ...targets });
}

async function startProfile(): Promise<Session> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  return session;
}

async function stopProfile(session: Session, file: string): Promise<void> {
  const { profile } = await session.post('Profiler.stop');
  session.disconnect();
  writeFileSync(file, JSON.stringify(profile));
}

/** A forked server child, ready: its two targets and its window controls. */
export interface BenchServer {
  get: Target;
  post: Target;
  /** Starts a measured window (and a CPU profile of the child when `profile`). */
  startWindow(profile: boolean): Promise<void>;
  /** Ends the window; writes the profile to `profileFile` when one was started. */
  stopWindow(profileFile?: string): Promise<WindowStats>;
  /** Asks the child to close its server and exit (SIGKILL after 5 s); resolves once it exited. */
  close(): Promise<void>;
}

/**
 * Bench side: forks `node --import tsx entry ...argv`, resolves once it is ready. The child is killed when this
 * process exits, whatever the way out; one message is in flight at a time, so replies come back in order.
 */
export async function forkBenchServer(entry: string, argv: string[]): Promise<BenchServer> {
  const child = fork(entry, argv, {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const kill = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', kill);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const next = (): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const onExit = (code: number | null): void => {
        child.off('message', onMessage);
        reject(new Error(`${entry} exited (${code}) before answering`));
      };
      const onMessage = (msg: unknown): void => {
        child.off('exit', onExit);
        resolve(msg);
      };
      child.once('message', onMessage);
      child.once('exit', onExit);
    });
  const request = async (msg: ToChild): Promise<void> => {
    await new Promise<void>((resolve, reject) =>
      child.send(msg, (err) => (err === null ? resolve() : reject(err))),
    );
  };
  const ready = readySchema.parse(await next());
  return {
    get: ready.get,
    post: ready.post,
    startWindow: async (profile) => {
      const reply = next();
      await request({ type: 'window-start', profile });
      startedSchema.parse(await reply);
    },
    stopWindow: async (profileFile) => {
      const reply = next();
      await request({ type: 'window-stop', profileFile });
      const { cpuUs, heapUsedBytes, gc } = windowSchema.parse(await reply);
      return { cpuUs, heapUsedBytes, gc };
    },
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const timer = setTimeout(kill, 5000);
        await request({ type: 'close' }).catch(kill);
        await exited;
        clearTimeout(timer);
      }
      process.off('exit', kill);
    },
  };
}
