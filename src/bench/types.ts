/** The shapes `arrakis bench` produces: one result per check, one record per job it ran, and the report. */

export const CHECK_NAMES = [
  'cold',
  'warm',
  'concurrency',
  'cancel',
  'quota_burst',
  'auth',
  'outputs',
  'webhooks',
  'cost',
] as const;
export type CheckName = (typeof CHECK_NAMES)[number];

export type CheckStatus = 'pass' | 'fail' | 'not_run';

/** One measured figure: every number carries its unit (`s`, `count`, `bytes`, `price`, `bool`). */
export interface Figure {
  label: string;
  value: number | boolean | string | null;
  unit: string;
}

export interface CheckResult {
  name: CheckName;
  status: CheckStatus;
  /** One line: what was seen, or why the check failed or did not run. */
  summary: string;
  figures: Record<string, Figure>;
  /** Further lines for the report (fleet decisions, each failed case). */
  details: string[];
  duration_s: number;
}

/** A job the battery submitted, as the timeline draws it (server timestamps). */
export interface JobRecord {
  check: CheckName;
  id: string;
  user: string;
  status: string;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  queue_wait_s: number | null;
  run_time_s: number | null;
  total_time_s: number | null;
  /** Whether a cancel was requested for it. */
  cancelled_by_bench: boolean;
  /** Times a worker gave the job back to the queue (a lost worker, a dead ComfyUI). */
  requeues: number;
}

export interface BenchReport {
  server: string;
  started_at: string;
  finished_at: string;
  verdict: 'pass' | 'fail';
  checks: CheckResult[];
  jobs: JobRecord[];
}

/** A figure in seconds (null when not measured). */
export function seconds(label: string, value: number | null): Figure {
  return { label, value: value === null ? null : Math.round(value * 1000) / 1000, unit: 's' };
}

export function count(label: string, value: number): Figure {
  return { label, value, unit: 'count' };
}

export function flag(label: string, value: boolean): Figure {
  return { label, value, unit: 'bool' };
}
