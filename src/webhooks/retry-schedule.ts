/**
 * The webhook retry schedule (`--webhook-retry "1s,5s,30s,5m,30m,2h,5h,10h"`): the first attempt is immediate,
 * then one retry after each listed delay, so the list's length is the number of retries. Delays get ±20 %
 * jitter so receivers recovering from an outage are not hit by every queued delivery in the same instant,
 * and a receiver's `Retry-After` wins when it asks for more time (up to a cap).
 */
import { z } from 'zod';

export interface RetrySchedule {
  /** Delay before retry n+1, in milliseconds. */
  readonly delaysMs: readonly number[];
  /** The longest wait a `Retry-After` header may impose. */
  readonly retryAfterCapMs: number;
}

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const HOUR_MS = 3_600_000;
const MAX_DELAY_MS = 7 * 24 * HOUR_MS;
const MAX_RETRIES = 50;
/** Default cap on `Retry-After`: long enough for planned maintenance, short enough to not lose the delivery. */
export const DEFAULT_RETRY_AFTER_CAP_MS = 6 * HOUR_MS;
export const DEFAULT_WEBHOOK_RETRY = '1s,5s,30s,5m,30m,2h,5h,10h';
export const JITTER = 0.2;

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;

const durationSchema = z
  .string()
  .trim()
  .regex(DURATION, 'each delay is a number with a unit: ms, s, m or h (e.g. "30s")')
  .transform((text) => {
    const match = DURATION.exec(text);
    return Math.round(Number(match?.[1]) * (UNIT_MS[match?.[2] ?? ''] ?? Number.NaN));
  })
  .pipe(
    z.number().int().min(1, 'a delay must be at least 1ms').max(MAX_DELAY_MS, 'a delay must be at most 168h'),
  );

/** The zod schema of the setting: a comma-separated list of delays, turned into milliseconds. */
export const retryScheduleSchema = z
  .string()
  .transform((text) => text.split(','))
  .pipe(
    z
      .array(durationSchema)
      .min(1, 'list at least one delay')
      .max(MAX_RETRIES, `list at most ${MAX_RETRIES} delays`),
  )
  .describe('Delays between webhook delivery attempts, e.g. "1s,5s,30s,5m,30m,2h,5h,10h"');

/** Parses the `--webhook-retry` setting; the error names the setting and what it accepts. */
export function parseRetrySchedule(
  text: string,
  retryAfterCapMs = DEFAULT_RETRY_AFTER_CAP_MS,
): RetrySchedule {
  const parsed = retryScheduleSchema.safeParse(text);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue !== undefined && issue.path.length > 0 ? ` (delay ${Number(issue.path[0]) + 1})` : '';
    throw new Error(
      `--webhook-retry (ARRAKIS_WEBHOOK_RETRY) "${text}" is invalid${where}: ${issue?.message ?? 'bad value'}; ` +
        `expected comma-separated delays such as "${DEFAULT_WEBHOOK_RETRY}"`,
    );
  }
  return Object.freeze({ delaysMs: Object.freeze(parsed.data), retryAfterCapMs });
}

/**
 * Milliseconds to wait after failed attempt number `attempt` (1-based), or null when the schedule is spent.
 * `random` in [0, 1) drives the jitter; `retryAfterMs` is the receiver's request, if any.
 */
export function nextRetryDelay(
  schedule: RetrySchedule,
  attempt: number,
  retryAfterMs: number | null,
  random: () => number = Math.random,
): number | null {
  const base = schedule.delaysMs[attempt - 1];
  if (base === undefined) return null;
  const jittered = Math.max(1, Math.round(base * (1 - JITTER + 2 * JITTER * random())));
  if (retryAfterMs === null) return jittered;
  return Math.max(jittered, Math.min(retryAfterMs, schedule.retryAfterCapMs));
}

/** `Retry-After` as milliseconds from `now` (delta-seconds or an HTTP date), or null when absent or invalid. */
export function parseRetryAfter(value: string | null | undefined, now: number): number | null {
  if (value === null || value === undefined) return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // Only accept something that looks like an HTTP date, not any string Date.parse happens to understand.
  if (!/^[A-Za-z]{3},? /.test(text)) return null;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - now);
}
