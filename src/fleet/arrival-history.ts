/**
 * A small rolling history of arrivals per UTC hour of day, learned online from the submissions a pool sees,
 * so the autoscaler knows which hours were busy on previous days (what an operator would otherwise write as
 * a schedule). The controller and the simulator each keep one and hand its profile to the policy in the
 * snapshot, so the same policy code runs in both. Only whole previous days count: today is still unfolding.
 */
import type { ArrivalProfile } from './policy-types.js';

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

/** Days of history kept by default: one week covers a weekly cycle. */
export const HISTORY_DAYS = 7;

export class ArrivalHistory {
  /** Arrivals per hour of day, by day number (days since the epoch, UTC). */
  private readonly days = new Map<number, number[]>();
  private firstDay: number | null = null;
  /** The last profile given, for its day: arrivals of today do not change it, so it is reused all day. */
  private cached: { today: number; profile: ArrivalProfile } | null = null;

  /**
   * @param sameKind compare weekdays with weekdays and weekend days with weekend days (a weekend afternoon
   *   is not a weekday afternoon).
   */
  constructor(
    private readonly maxDays: number = HISTORY_DAYS,
    private readonly sameKind: boolean = true,
  ) {}

  /** One submission at `at` (epoch ms). */
  record(at: number): void {
    const day = Math.floor(at / DAY_MS);
    if (this.cached !== null && day < this.cached.today) this.cached = null;
    this.firstDay = this.firstDay === null ? day : Math.min(this.firstDay, day);
    let hours = this.days.get(day);
    if (hours === undefined) {
      hours = new Array<number>(24).fill(0);
      this.days.set(day, hours);
      for (const d of this.days.keys()) if (d < day - this.maxDays) this.days.delete(d);
    }
    const h = Math.floor((at - day * DAY_MS) / HOUR_MS);
    hours[h] = (hours[h] ?? 0) + 1;
  }

  /**
   * Arrivals per hour of day summed over the whole days before `now`'s day (at most `maxDays`, of the same
   * kind), and how many days that is. Days without arrivals count once the history has begun: a quiet day is
   * data too.
   */
  profile(now: number): ArrivalProfile {
    const today = Math.floor(now / DAY_MS);
    if (this.cached?.today === today) return this.cached.profile;
    const byHour = new Array<number>(24).fill(0);
    if (this.firstDay === null || this.firstDay >= today) return { days: 0, byHour };
    const from = Math.max(this.firstDay, today - this.maxDays);
    let days = 0;
    for (let d = from; d < today; d++) {
      if (this.sameKind && isWeekend(d) !== isWeekend(today)) continue;
      days++;
      const hours = this.days.get(d);
      if (hours !== undefined) for (let h = 0; h < 24; h++) byHour[h]! += hours[h] ?? 0;
    }
    const profile = { days, byHour };
    if (this.firstDay < today) this.cached = { today, profile };
    return profile;
  }
}

/** Saturday or Sunday (UTC) for a day number counted from the epoch (a Thursday). */
function isWeekend(day: number): boolean {
  const weekday = (day + 4) % 7;
  return weekday === 0 || weekday === 6;
}
