/**
 * The battery: sets up the run's account, runs each selected check in order (an error inside a check fails
 * that check, not the run), and writes report.json, report.md and timeline.svg into --out.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describeError } from '../cli/remote.js';
import { loadBaseline } from './baseline.js';
import { authCheck } from './checks/auth.js';
import { cancelCheck } from './checks/cancel.js';
import { coldCheck } from './checks/cold.js';
import { concurrencyCheck } from './checks/concurrency.js';
import { costCheck } from './checks/cost.js';
import { outputsCheck } from './checks/outputs.js';
import { quotaBurstCheck } from './checks/quota-burst.js';
import { verdict, type Check, type Verdict } from './checks/verdict.js';
import { warmCheck } from './checks/warm.js';
import { webhooksCheck } from './checks/webhooks.js';
import { createContext, type BenchContext } from './context.js';
import type { BenchOptions } from './options.js';
import type { Progress } from './progress.js';
import { reportMarkdown } from './report-md.js';
import { timelineSvg } from './timeline-svg.js';
import type { BenchReport, CheckName, CheckResult } from './types.js';

/** In this order: cold first, while the pool may still be empty; cost last, to count every job. */
const CHECKS: ReadonlyArray<readonly [CheckName, Check]> = [
  ['cold', coldCheck],
  ['warm', warmCheck],
  ['concurrency', concurrencyCheck],
  ['cancel', cancelCheck],
  ['quota_burst', quotaBurstCheck],
  ['auth', authCheck],
  ['outputs', outputsCheck],
  ['webhooks', webhooksCheck],
  ['cost', costCheck],
];

export interface BenchOutcome {
  report: BenchReport;
  files: { json: string; markdown: string; chart: string };
}

async function runChecks(ctx: BenchContext, options: BenchOptions, progress: Progress) {
  const checks: CheckResult[] = [];
  for (const [name, check] of CHECKS) {
    if (!options.checks.has(name)) {
      checks.push({ name, ...verdict('not_run', 'not selected (--checks)'), duration_s: 0 });
      continue;
    }
    progress.start(name);
    const t0 = performance.now();
    let v: Verdict;
    try {
      v = await check(ctx);
    } catch (err) {
      v = verdict('fail', `stopped by an error: ${describeError(err)}`);
    }
    const result: CheckResult = { name, ...v, duration_s: Math.round(performance.now() - t0) / 1000 };
    progress.finish(result);
    checks.push(result);
  }
  return checks;
}

export async function runBench(options: BenchOptions, progress: Progress): Promise<BenchOutcome> {
  const baseline = options.baseline === undefined ? null : await loadBaseline(options.baseline);
  const ctx = await createContext(options, progress);
  progress.note(`arrakis bench against ${options.server} (account ${ctx.main.account.id})`);
  const checks = await runChecks(ctx, options, progress);
  const unrevoked = await ctx.revokeKeys();
  if (unrevoked.length > 0) progress.note(`could not revoke the run's API keys: ${unrevoked.join(', ')}`);
  const report: BenchReport = {
    server: options.server,
    started_at: ctx.startedAt.toISOString(),
    finished_at: new Date().toISOString(),
    verdict: checks.some((c) => c.status === 'fail') ? 'fail' : 'pass',
    checks,
    jobs: ctx.records,
  };
  await mkdir(options.out, { recursive: true });
  const files = {
    json: join(options.out, 'report.json'),
    markdown: join(options.out, 'report.md'),
    chart: join(options.out, 'timeline.svg'),
  };
  await writeFile(files.json, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(files.chart, timelineSvg(report.jobs));
  await writeFile(files.markdown, reportMarkdown(report, baseline, 'timeline.svg'));
  return { report, files };
}
