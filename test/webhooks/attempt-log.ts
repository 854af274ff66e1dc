/** Collects the deliverer's onAttempt events so tests await them instead of sleeping. */
import type { AttemptEvent } from '../../src/webhooks/deliverer.js';

export class AttemptLog {
  readonly events: AttemptEvent[] = [];
  private waiters: Array<{ match: (e: AttemptEvent) => boolean; resolve: (e: AttemptEvent) => void }> = [];

  readonly push = (event: AttemptEvent): void => {
    this.events.push(event);
    for (const w of this.waiters.filter((x) => x.match(event))) {
      this.waiters.splice(this.waiters.indexOf(w), 1);
      w.resolve(event);
    }
  };

  /** The first event (already seen or future) that matches. */
  async until(match: (e: AttemptEvent) => boolean): Promise<AttemptEvent> {
    const seen = this.events.find(match);
    if (seen !== undefined) return seen;
    return await new Promise((resolve) => this.waiters.push({ match, resolve }));
  }

  /** The event that ended a delivery (delivered, failed or disabled). */
  async finished(deliveryId: string): Promise<AttemptEvent> {
    return await this.until((e) => e.delivery.id === deliveryId && e.status !== 'pending');
  }
}

/** Polls `check` (bounded) until it returns a value; for state only the database can tell. */
export async function eventually<T>(
  check: () => Promise<T | null | undefined | false>,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== null && value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
