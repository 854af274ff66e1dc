/** A real SQLite store on a temp file plus deliverers that are always stopped after each test. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../src/store/open.js';
import type { Store, WebhookDelivery } from '../../src/store/contract.js';
import { WebhookDeliverer, type WebhookDelivererOptions } from '../../src/webhooks/deliverer.js';
import { parseRetrySchedule } from '../../src/webhooks/retry-schedule.js';
import { AttemptLog, eventually } from './attempt-log.js';

export interface Harness {
  /** The database URL, for a second process on the same database. */
  url: string;
  store: Store;
  /** Starts a deliverer on the harness store; stopped by close(). */
  deliverer(options: Partial<WebhookDelivererOptions> & { allow: string[] }): {
    deliverer: WebhookDeliverer;
    log: AttemptLog;
  };
  /** The delivery the store enqueued for `jobId`. */
  deliveryFor(jobId: string): Promise<WebhookDelivery>;
  close(): Promise<void>;
}

/** Opens a store on `url` (a temp SQLite file when omitted) and migrates it. */
export async function openHarness(url?: string): Promise<Harness> {
  const dir = url === undefined ? mkdtempSync(join(tmpdir(), 'arrakis-webhooks-')) : null;
  const dbUrl = url ?? `sqlite:${join(dir ?? '', 'arrakis.db')}`;
  const store = await openStore(dbUrl);
  await store.migrate();
  const running: WebhookDeliverer[] = [];
  return {
    url: dbUrl,
    store,
    deliverer(options) {
      const log = new AttemptLog();
      const deliverer = new WebhookDeliverer({
        store,
        getAccount: (id) => store.getAccount(id),
        schedule: parseRetrySchedule('50ms,50ms,50ms'),
        pollMs: 25,
        ...options,
        onAttempt: log.push,
      });
      running.push(deliverer);
      deliverer.start();
      return { deliverer, log };
    },
    deliveryFor: (jobId) =>
      eventually(async () => (await store.listWebhookDeliveries({ jobId, limit: 10 }))[0]),
    async close() {
      await Promise.all(running.map((d) => d.stop()));
      await store.close();
      if (dir !== null) rmSync(dir, { recursive: true, force: true });
    },
  };
}
