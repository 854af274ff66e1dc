/**
 * `arrakis run FILE.json [--template NAME --param k=v …] [--input name=path|url] [--out DIR] [--no-wait]`:
 * submits a job as ARRAKIS_USER with ARRAKIS_KEY, follows it (a bar on a terminal, lines otherwise), saves its
 * outputs under their filenames and prints the timings. Exit 0 when the job completed, 1 otherwise.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { ArrakisClient, type Job, type JobProgress } from '../client/index.js';
import { createProgressView, type ProgressView } from './progress-view.js';
import { describeError, requireEnv, serverUrl, withServerOption } from './remote.js';
import { buildRunRequest } from './run-request.js';
import { safeFilename } from '../util/safe-filename.js';

interface RunOptions {
  server?: string;
  template?: string;
  param: string[];
  input: string[];
  out: string;
  wait: boolean;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/**
 * A file name that stays inside DIR: the output's name reduced by safeFilename, output-<index> when nothing
 * of it is left. The name comes from the server: never trusted as a path.
 */
export function outputFileName(filename: string, index: number): string {
  return safeFilename(filename, `output-${index}`);
}

async function saveOutputs(client: ArrakisClient, job: Job, dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const saved: string[] = [];
  const used = new Set<string>();
  for (const output of job.outputs) {
    let name = outputFileName(output.filename, output.index);
    if (used.has(name)) name = `${output.index}-${name}`;
    used.add(name);
    const path = join(dir, name);
    // Under its name only once whole: a Ctrl-C or a failed download leaves at most a `.part` file.
    const part = `${path}.part`;
    await writeFile(part, await client.outputs.download(job.id, output.index));
    await rename(part, path);
    saved.push(path);
  }
  return saved;
}

/** The whole prompt's fraction when the server sends it (the steps of one node start over at every node). */
function showProgress(view: ProgressView, p: JobProgress): void {
  const label = p.node === null ? null : p.class_type ? `${p.node} ${p.class_type}` : p.node;
  if (p.fraction !== undefined) view.progress(p.fraction, 1, label);
  else view.progress(p.value, p.max, label);
}

/**
 * What Ctrl-C does at each step of `arrakis run`. While the job is submitted the first one asks for the job to
 * be cancelled as soon as the server has accepted it (its id is unknown until then); while it is followed the
 * first one cancels it; either way a second one leaves at once (exit 130), and so does any one before the
 * submission or once the job has ended. One SIGINT listener for the whole command, so no step falls back to
 * Node's default (a kill by signal).
 */
class Interrupts {
  private phase: 'idle' | 'submitting' | 'following' = 'idle';
  /** A first Ctrl-C was taken: the job is to be cancelled (or is being). */
  private pressed = false;
  private cancelJob: (() => void) | null = null;
  private readonly listener = (): void => {
    if (this.phase === 'idle' || this.pressed) process.exit(130);
    this.pressed = true;
    if (this.phase === 'following') this.cancelJob?.();
    else process.stderr.write('cancelling the job once the server has accepted it (Ctrl-C again to leave)\n');
  };

  constructor() {
    process.on('SIGINT', this.listener);
  }

  /** Whether a Ctrl-C asked for the job to be cancelled. */
  get cancelWanted(): boolean {
    return this.pressed;
  }

  /** While `body` runs (the submission), the first Ctrl-C asks for a cancel instead of leaving. */
  async submitting<T>(body: () => Promise<T>): Promise<T> {
    return await this.during('submitting', body);
  }

  /** While `body` runs, the first Ctrl-C calls `cancel` (at once when one was pressed during the submission). */
  async following<T>(cancel: () => void, body: () => Promise<T>): Promise<T> {
    this.cancelJob = cancel;
    if (this.pressed) cancel();
    try {
      return await this.during('following', body);
    } finally {
      this.cancelJob = null;
    }
  }

  private async during<T>(phase: 'submitting' | 'following', body: () => Promise<T>): Promise<T> {
    this.phase = phase;
    try {
      return await body();
    } finally {
      this.phase = 'idle';
    }
  }

  close(): void {
    process.off('SIGINT', this.listener);
  }
}

/** Follows the job's events until it ends; the first Ctrl-C cancels the job, a second one leaves at once. */
async function follow(
  client: ArrakisClient,
  job: Job,
  view: ProgressView,
  interrupts: Interrupts,
): Promise<Job> {
  const cancel = (): void => {
    view.close();
    process.stderr.write(`cancelling ${job.id} (Ctrl-C again to leave without waiting)\n`);
    client.jobs
      .cancel(job.id)
      .catch((err: unknown) => process.stderr.write(`cancel: ${describeError(err)}\n`));
  };
  await interrupts.following(cancel, async () => {
    try {
      view.status(job.status);
      for await (const event of client.jobs.stream(job.id)) {
        if (event.event === 'status' && event.data.snapshot !== true) view.status(event.data.status);
        else if (event.event === 'progress') showProgress(view, event.data);
        else if (event.event === 'done') break;
      }
    } finally {
      view.close();
    }
  });
  // Ended: a Ctrl-C from here on leaves (there is nothing left to cancel).
  return await client.jobs.get(job.id);
}

function seconds(value: number | null): string {
  return value === null ? '–' : `${value.toFixed(2)} s`;
}

async function run(file: string | undefined, options: RunOptions): Promise<void> {
  const baseUrl = serverUrl(options.server);
  const apiKey = requireEnv('ARRAKIS_KEY', 'account API key');
  const userId = process.env.ARRAKIS_USER ?? 'cli';
  const interrupts = new Interrupts();
  try {
    const { request, uploads } = await buildRunRequest(file, options);
    const client = new ArrakisClient({ baseUrl, apiKey, userId });
    const submitted = await interrupts.submitting(() => client.jobs.create(request, { inputs: uploads }));
    process.stdout.write(`job ${submitted.id} ${submitted.status}\n`);
    if (!options.wait) {
      if (!interrupts.cancelWanted) return;
      await client.jobs.cancel(submitted.id);
      process.stderr.write(`cancelling ${submitted.id}\n`);
      process.exitCode = 130;
      return;
    }
    const job = await follow(client, submitted, createProgressView(process.stderr), interrupts);
    for (const path of job.status === 'completed' ? await saveOutputs(client, job, options.out) : []) {
      process.stdout.write(`saved ${path}\n`);
    }
    process.stdout.write(
      `${job.status}: queue ${seconds(job.queue_wait_s)}, run ${seconds(job.run_time_s)}, total ${seconds(job.total_time_s)}\n`,
    );
    if (job.status !== 'completed') {
      const why = job.error === null ? '' : `: ${job.error.code}: ${job.error.message}`;
      process.stderr.write(`arrakis: job ${job.id} ${job.status}${why}\n`);
      process.exitCode = 1;
    }
  } finally {
    interrupts.close();
  }
}

/** Registers `arrakis run`. */
export function register(program: Command): void {
  withServerOption(
    program
      .command('run')
      .description(
        'submit a workflow or template, follow it, and save its outputs (ARRAKIS_KEY, ARRAKIS_USER)',
      )
      .argument('[file]', 'a request body, an API-format prompt, or a UI-format export (.json)'),
  )
    .option('--template <name>', 'run this registered template instead of a workflow')
    .option('--param <name=value>', 'template parameter (JSON value or text); repeatable', collect, [])
    .option(
      '--input <name=path|url>',
      'input file by name: a local file (uploaded) or an http(s) URL; repeatable',
      collect,
      [],
    )
    .option('--out <dir>', 'folder to save the outputs in', '.')
    .option('--wait', 'wait for the job to end and save its outputs (the default)')
    .option('--no-wait', 'print the job id and exit once the job is accepted')
    .action(async (file: string | undefined, options: RunOptions) => {
      try {
        await run(file, { ...options, wait: options.wait !== false });
      } catch (err) {
        throw new Error(describeError(err));
      }
    });
}
