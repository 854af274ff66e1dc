/** The settings of one `arrakis bench` run, checked once from the command-line flags. */
import { CHECK_NAMES, type CheckName } from './types.js';

export interface BenchOptions {
  server: string;
  adminKey: string;
  out: string;
  checks: ReadonlySet<CheckName>;
  /** The job the timing checks run: a request file or a bare prompt, or a template with params. */
  workflow?: string | undefined;
  template?: string | undefined;
  params: readonly string[];
  /** A job long enough to be caught running (cancel, quota burst); default: ArrakisDelay on comfy-lite. */
  longWorkflow?: string | undefined;
  pool?: string | undefined;
  warmJobs: number;
  /** Parallel jobs of the concurrency check; null = 3, or the pool's max when larger. */
  concurrency: number | null;
  burst: number;
  quotaLimit: number;
  jobTimeoutS: number;
  coldWaitS: number;
  warmMaxWaitS: number;
  webhookReceiver?: string | undefined;
  webhookListen?: string | undefined;
  baseline?: string | undefined;
}

/** Raw flags as commander hands them over (strings). */
export interface BenchFlags {
  out: string;
  checks?: string;
  workflow?: string;
  template?: string;
  param: string[];
  longWorkflow?: string;
  pool?: string;
  warmJobs: string;
  concurrency?: string;
  burst: string;
  quotaLimit: string;
  jobTimeout: string;
  coldWait: string;
  warmMaxWait: string;
  webhookReceiver?: string;
  webhookListen?: string;
  baseline?: string;
}

function whole(flag: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new Error(`${flag} ${text}: give a whole number from ${min} to ${max}`);
  }
  return n;
}

function positive(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag} ${text}: give a number of seconds > 0`);
  return n;
}

/** `--checks cold,warm` → the set; every name must be a known check. */
export function parseChecks(text: string | undefined): ReadonlySet<CheckName> {
  if (text === undefined || text.trim() === '') return new Set(CHECK_NAMES);
  const out = new Set<CheckName>();
  for (const raw of text.split(',')) {
    const name = raw.trim();
    const known = CHECK_NAMES.find((c) => c === name);
    if (known === undefined)
      throw new Error(`--checks: unknown check "${name}"; known: ${CHECK_NAMES.join(', ')}`);
    out.add(known);
  }
  return out;
}

/** Checks the flags and fills in the defaults. */
export function benchOptions(server: string, adminKey: string, flags: BenchFlags): BenchOptions {
  if (flags.workflow !== undefined && flags.template !== undefined) {
    throw new Error('give --workflow FILE or --template NAME, not both');
  }
  if (flags.param.length > 0 && flags.template === undefined) {
    throw new Error('--param goes with --template NAME');
  }
  if (flags.webhookReceiver !== undefined && !/^https?:\/\//i.test(flags.webhookReceiver)) {
    throw new Error('--webhook-receiver: give the http(s) URL the server should post webhooks to');
  }
  const burst = whole('--burst', flags.burst, 2, 1000);
  const quotaLimit = whole('--quota-limit', flags.quotaLimit, 1, 999);
  if (quotaLimit >= burst) throw new Error(`--burst ${burst} must exceed --quota-limit ${quotaLimit}`);
  return {
    server,
    adminKey,
    out: flags.out,
    checks: parseChecks(flags.checks),
    workflow: flags.workflow,
    template: flags.template,
    params: flags.param,
    longWorkflow: flags.longWorkflow,
    pool: flags.pool,
    warmJobs: whole('--warm-jobs', flags.warmJobs, 1, 1000),
    concurrency: flags.concurrency === undefined ? null : whole('--concurrency', flags.concurrency, 1, 1000),
    burst,
    quotaLimit,
    jobTimeoutS: positive('--job-timeout', flags.jobTimeout),
    coldWaitS: positive('--cold-wait', flags.coldWait),
    warmMaxWaitS: positive('--warm-max-wait', flags.warmMaxWait),
    webhookReceiver: flags.webhookReceiver,
    webhookListen: flags.webhookListen,
    baseline: flags.baseline,
  };
}
