/**
 * Time-of-day schedules that override a pool's min and buffer (e.g. weekdays 09–18 keep one warm worker).
 * A window is [start, end) in the schedule's own UTC offset; a window whose end is not after its start runs
 * past midnight and belongs to the day it starts on. The first schedule that matches wins.
 */
import type { PoolLimits } from './policy-types.js';

export interface Schedule {
  name: string;
  /** Days the window starts on, 0 = Sunday … 6 = Saturday (in the schedule's offset). */
  days: number[];
  /** Minutes after local midnight. */
  startMinute: number;
  endMinute: number;
  /** Offset from UTC in minutes (+120 for "+02:00"). */
  offsetMinutes: number;
  min: number | null;
  buffer: number | null;
}

export interface Floor {
  min: number;
  buffer: number;
  /** The schedule in force, or null when the pool's own values apply. */
  schedule: string | null;
  /** True outside the pool's `latency_hours` (absent or false: inside them, or the pool sets none). */
  offHours?: boolean;
}

/** True when `at` (epoch ms) falls inside the schedule's window. */
export function scheduleMatches(s: Schedule, at: number): boolean {
  const local = new Date(at + s.offsetMinutes * 60_000);
  const day = local.getUTCDay();
  const minute = local.getUTCHours() * 60 + local.getUTCMinutes() + local.getUTCSeconds() / 60;
  if (s.startMinute < s.endMinute) {
    return s.days.includes(day) && minute >= s.startMinute && minute < s.endMinute;
  }
  // Overnight window: the evening part on a listed day, the morning part on the day after one.
  const previous = (day + 6) % 7;
  return (
    (s.days.includes(day) && minute >= s.startMinute) || (s.days.includes(previous) && minute < s.endMinute)
  );
}

/** The pool's effective min and buffer at `at`: the first matching schedule's values, else the pool's own. */
export function effectiveFloor(
  pool: {
    min: number;
    buffer: number;
    schedules: readonly Schedule[];
    latencyHours?: Schedule | null;
  },
  at: number,
): Floor {
  const hours = pool.latencyHours ?? null;
  const off = hours !== null && !scheduleMatches(hours, at) ? { offHours: true } : {};
  for (const s of pool.schedules) {
    if (scheduleMatches(s, at)) {
      return { min: s.min ?? pool.min, buffer: s.buffer ?? pool.buffer, schedule: s.name, ...off };
    }
  }
  return { min: pool.min, buffer: pool.buffer, schedule: null, ...off };
}

/** The limits the policy sees at `at`: the pool's own, with the schedule's min and buffer applied. */
export function poolLimitsAt(
  pool: Omit<PoolLimits, 'min' | 'buffer' | 'offHours'>,
  floor: Floor,
): PoolLimits {
  return {
    min: floor.min,
    buffer: floor.buffer,
    max: pool.max,
    scaleDownMs: pool.scaleDownMs,
    coldStartMs: pool.coldStartMs,
    pricePerGpuSecond: pool.pricePerGpuSecond,
    maxCostPerHour: pool.maxCostPerHour,
    planningHorizonS: pool.planningHorizonS ?? null,
    ...(pool.sessionCopies === undefined ? {} : { sessionCopies: pool.sessionCopies }),
    ...(pool.prefetchCover === undefined ? {} : { prefetchCover: pool.prefetchCover }),
    ...(floor.offHours === true ? { offHours: true } : {}),
  };
}
