/**
 * Loops every replica runs beside the API: the URL-input fetcher and the webhook deliverer.
 * A `webhook_due` (an ended job with a webhook URL) kicks the deliverer so a webhook leaves at once instead of at
 * the next poll.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/load.js';
import type { BusMessage, EventBus } from '../events/bus.js';
import { InputFetcher } from '../jobs/input-fetcher.js';
import type { ObjectStorage } from '../media/storage/contract.js';
import type { Store } from '../store/contract.js';
import { WebhookDeliverer } from '../webhooks/deliverer.js';
import { parseRetrySchedule } from '../webhooks/retry-schedule.js';
import type { JobTelemetry } from './job-telemetry.js';

export interface Background {
  /** A job with URL inputs was admitted on this replica: fetch now rather than at the next poll. */
  wakeInputFetcher(): void;
  stop(): Promise<void>;
}

export interface BackgroundDeps {
  config: Config;
  store: Store;
  storage: ObjectStorage;
  bus: EventBus;
  log: Logger;
  /** Logs and counts input fetches and webhook attempts. */
  telemetry?: JobTelemetry;
}

/**
 * Whether `m` may mean a webhook delivery is due: `webhook_due`, a resync, or a `job_event` without `ended` — sent
 * by a replica that predates `webhook_due` (during a rolling upgrade), whose job ends announce nothing else.
 */
export function wakesDeliverers(m: BusMessage): boolean {
  return m.kind === 'webhook_due' || m.kind === 'resync' || (m.kind === 'job_event' && m.ended === undefined);
}

/** Starts the input fetcher and the webhook deliverer. */
export function startBackground(deps: BackgroundDeps): Background {
  const { config, store, storage, bus, log, telemetry } = deps;
  const deliverer = new WebhookDeliverer({
    store,
    getAccount: (id) => store.getAccount(id),
    allow: [...config.fetchAllow],
    schedule: parseRetrySchedule(config.webhookRetry),
    log,
    onAttempt: (event) => telemetry?.webhookAttempt(event),
  });
  deliverer.start();
  const fetcher = new InputFetcher({
    store,
    storage,
    bus,
    allow: [...config.fetchAllow],
    onError: (err, jobId) => log.warn({ err, jobId }, 'input fetcher trouble'),
    onRecovered: () => log.info('input fetcher recovered'),
    onReady: (job) => telemetry?.inputsFetched(job),
    onFailed: (job) => telemetry?.inputsFailed(job),
  });
  fetcher.start();
  const unsubscribe = bus.subscribe((m) => {
    if (wakesDeliverers(m)) deliverer.kick();
    if (m.kind === 'resync') fetcher.wake();
  });
  return {
    wakeInputFetcher: () => fetcher.wake(),
    async stop(): Promise<void> {
      unsubscribe();
      await fetcher.stop();
      await deliverer.stop();
    },
  };
}
