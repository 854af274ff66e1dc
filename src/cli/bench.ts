/**
 * `arrakis bench --server URL [--out DIR]` with ARRAKIS_ADMIN_KEY: the validation battery (cold, warm,
 * concurrency, cancel, quota_burst, auth, outputs, webhooks, cost) against a running deployment, in an
 * account of its own. Writes DIR/report.json, report.md and timeline.svg; exit 1 when a check fails.
 */
import type { Command } from 'commander';
import { benchOptions, type BenchFlags } from '../bench/options.js';
import { createProgress } from '../bench/progress.js';
import { runBench } from '../bench/run-bench.js';
import { CHECK_NAMES } from '../bench/types.js';
import { requireEnv, serverUrl, withServerOption } from './remote.js';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

async function bench(flags: BenchFlags & { server?: string }): Promise<void> {
  const options = benchOptions(serverUrl(flags.server), requireEnv('ARRAKIS_ADMIN_KEY', 'admin key'), flags);
  const progress = createProgress(process.stderr);
  const { report, files } = await runBench(options, progress);
  const failed = report.checks.filter((c) => c.status === 'fail').map((c) => c.name);
  process.stdout.write(`report: ${files.markdown}\njson: ${files.json}\nchart: ${files.chart}\n`);
  process.stdout.write(failed.length === 0 ? 'verdict: pass\n' : `verdict: fail (${failed.join(', ')})\n`);
  if (failed.length > 0) process.exitCode = 1;
}

/** Registers `arrakis bench`. */
export function register(program: Command): void {
  withServerOption(
    program
      .command('bench')
      .description('run the validation battery against a deployment and write a report (ARRAKIS_ADMIN_KEY)'),
  )
    .option('--out <dir>', 'folder for report.json, report.md and timeline.svg', 'bench-report')
    .option('--checks <list>', `comma-separated checks to run (default all: ${CHECK_NAMES.join(', ')})`)
    .option(
      '--workflow <file>',
      'the job to time: a request body or API-format prompt (default: a tiny built-in one)',
    )
    .option('--template <name>', 'time this registered template instead')
    .option('--param <name=value>', 'template parameter; repeatable', collect, [])
    .option(
      '--long-workflow <file>',
      "a job long enough to be caught running, for cancel and quota_burst (default: comfy-lite's ArrakisDelay)",
    )
    .option('--pool <name>', "the pool to run on (default: the server's default pool)")
    .option('--warm-jobs <n>', 'jobs of the warm check', '5')
    .option(
      '--concurrency <n>',
      'parallel jobs of the concurrency check (default 3, or the pool max if larger)',
    )
    .option('--burst <n>', 'parallel submissions of the quota_burst check', '8')
    .option('--quota-limit <n>', 'active-job limit per user of the run account (must be below --burst)', '5')
    .option('--job-timeout <s>', 'seconds a job may take before its check fails', '300')
    .option('--cold-wait <s>', 'seconds to wait for the pool to scale to zero before the cold job', '600')
    .option('--warm-max-wait <s>', 'longest queue wait a warm job may have', '10')
    .option(
      '--webhook-receiver <url>',
      'URL the server should post webhooks to, forwarded to --webhook-listen',
    )
    .option(
      '--webhook-listen <host:port>',
      'where the battery listens for webhooks (default: the receiver URL port)',
    )
    .option('--baseline <report.json>', 'a previous report.json to compare with')
    .action(bench);
}
