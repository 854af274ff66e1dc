/** The in-process event bus: one process, no network (SQLite deployments and tests). */
import type { BusMessage, EventBus } from './bus.js';

/** An EventBus that delivers each message to this process's subscribers on the next microtask. */
export function createLocalBus(): EventBus {
  const handlers = new Set<(message: BusMessage) => void>();
  let closed = false;
  return {
    publish(message: BusMessage): Promise<void> {
      if (closed) return Promise.resolve();
      // Delivered asynchronously so a publisher never runs subscriber code inside its own transaction or loop.
      const targets = [...handlers];
      queueMicrotask(() => {
        for (const handler of targets) {
          try {
            handler(message);
          } catch {
            // Handlers must not throw; one that does must not starve the others.
          }
        }
      });
      return Promise.resolve();
    },
    subscribe(handler: (message: BusMessage) => void): () => void {
      if (closed) return () => {};
      handlers.add(handler);
      return () => {
        handlers.delete(handler);
      };
    },
    close(): Promise<void> {
      closed = true;
      handlers.clear();
      return Promise.resolve();
    },
  };
}
