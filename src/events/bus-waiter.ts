/** Waiting for a bus message without missing one published between a check and the wait. */
import type { BusMessage, EventBus } from './bus.js';

/**
 * Subscribes at construction, so a message published after it exists but before `wait` is called still counts.
 * Always `dispose()` it (in a finally).
 */
export class BusWaiter {
  private fired = false;
  private wake: (() => void) | null = null;
  private readonly unsubscribe: () => void;

  constructor(bus: EventBus, matches: (message: BusMessage) => boolean) {
    this.unsubscribe = bus.subscribe((message) => {
      // After `resync` the store may hold what we wait for: wake and let the caller re-read it.
      if (message.kind !== 'resync' && !matches(message)) return;
      this.fired = true;
      this.wake?.();
    });
  }

  /** True when a matching message arrived (before or during the wait); false on timeout or abort. */
  wait(timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.fired) return Promise.resolve(true);
    if (signal?.aborted === true || timeoutMs <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.wake = null;
        resolve(this.fired);
      };
      const timer = setTimeout(done, timeoutMs);
      signal?.addEventListener('abort', done, { once: true });
      this.wake = done;
    });
  }

  /** Counts as a matching message: news from elsewhere (the replica's safety poll) wakes the wait too. */
  fire(): void {
    this.fired = true;
    this.wake?.();
  }

  dispose(): void {
    this.unsubscribe();
    this.wake?.();
  }
}
