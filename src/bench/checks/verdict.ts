/** What a check returns; run-bench.ts adds its name and duration. */
import type { BenchContext } from '../context.js';
import type { CheckResult, CheckStatus, Figure } from '../types.js';

export type Verdict = Pick<CheckResult, 'status' | 'summary' | 'figures' | 'details'>;

export type Check = (ctx: BenchContext) => Promise<Verdict>;

export function verdict(
  status: CheckStatus,
  summary: string,
  figures: Record<string, Figure> = {},
  details: string[] = [],
): Verdict {
  return { status, summary, figures, details };
}

/** Seconds with two decimals, or a dash. */
export function fmt(value: number | null): string {
  return value === null ? '–' : `${value.toFixed(2)} s`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
