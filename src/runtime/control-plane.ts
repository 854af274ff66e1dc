/**
 * `arrakis serve` as a library: opens the store, storage and bus from the config, builds the API,
 * listens, and starts the background parts (in-process agents, input fetcher, webhook deliverer,
 * maintenance, fleet). `close()` shuts down in the reverse order: stop accepting, finish in-flight
 * requests, give running jobs back, close connections.
 */
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { buildApi, type Api } from '../api/app.js';
import type { Metrics } from '../api/metrics.js';
import { workerRoutes } from '../api/routes/workers.js';
import type { Config } from '../config/load.js';
import type { EventBus } from '../events/bus.js';
import { createLocalBus } from '../events/local-bus.js';
import { createPgBus } from '../events/pg-bus.js';
import { Maintenance } from '../jobs/maintenance.js';
import { NodeTypeRegistry } from '../jobs/node-type-registry.js';
import { openStorage } from '../media/storage/open-storage.js';
import type { ObjectStorage } from '../media/storage/contract.js';
import { checkUrlAtSubmission } from '../media/url-policy.js';
import type { Store } from '../store/contract.js';
import { openStore } from '../store/open.js';
import { WorkerService } from '../agent/worker-service.js';
import type { ModelLoad } from '../agent/job-channel.js';
import { storeBase64Input, storeUploadedInput } from './base64-input.js';
import { startInProcessWorkers, type InProcessWorkers } from './in-process-workers.js';
import { startBackground, type Background } from './background.js';
import { adminWorkerRoutes } from './admin-worker-routes.js';
import { loadTemplatesDir } from './templates-dir.js';
import { startFleet, type FleetRuntime } from './fleet-runtime.js';
import { lead, type Leadership } from './leadership.js';

export interface ControlPlane {
  url: string;
  port: number;
  app: FastifyInstance;
  store: Store;
  storage: ObjectStorage;
  bus: EventBus;
  workers: InProcessWorkers;
  close(): Promise<void>;
}

export interface ControlPlaneOptions {
  log?: Logger;
  /** Called with the listening URL before workers start (serve prints its ready line here). */
  onListening?: (url: string) => void;
}

function observeModelLoads(metrics: Metrics | null, loads: readonly ModelLoad[]): void {
  for (const l of loads) {
    metrics?.modelLoads.inc({ tier: l.tier });
    metrics?.modelLoadSeconds.observe({ tier: l.tier }, l.seconds);
  }
}

async function openBus(config: Config, log: Logger): Promise<EventBus> {
  if (config.db.startsWith('sqlite:')) return createLocalBus();
  return await createPgBus(config.db, { onError: (err) => log.warn({ err }, 'event bus listener error') });
}

/** Starts a control plane from a validated config. */
export async function startControlPlane(config: Config, options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const log = options.log ?? pino({ level: config.logLevel });
  const store = await openStore(config.db);
  await store.migrate();
  const storage = openStorage(config.storage, { presignTtlSeconds: config.presignTtlSeconds });
  await storage.check();
  const bus = await openBus(config, log);
  const nodeTypes = new NodeTypeRegistry();
  const leaseMs = config.leaseSeconds * 1000;
  const affinityMaxDelayMs = config.affinityMaxDelaySeconds * 1000;
  let metrics: Metrics | null = null;
  const service = new WorkerService({
    store,
    storage,
    bus,
    leaseMs,
    maxAttempts: config.maxAttempts,
    onFinished: (job) => {
      if (metrics === null || job.startedAt === null || job.finishedAt === null) return;
      metrics.queueWait.observe((job.startedAt - job.createdAt) / 1000);
      metrics.runTime.observe((job.finishedAt - job.startedAt) / 1000);
    },
    affinityMaxDelayMs,
    onModelLoads: (loads) => observeModelLoads(metrics, loads),
  });
  const now = (): number => Date.now();

  let fleet: FleetRuntime | null = null;
  let closing = false;
  let background: Background | null = null;
  let api: Api | null = null;
  try {
    if (config.templates !== undefined) await loadTemplatesDir(store, config.templates, now);
    api = await buildApi({
      config,
      store,
      storage,
      bus,
      nodeTypes,
      storeBase64Input: (jobId, name, b64, filename) => storeBase64Input(storage, jobId, name, b64, filename),
      storeUploadedInput: (jobId, name, bytes, filename) => storeUploadedInput(storage, jobId, name, bytes, filename),
      checkUrl: (url) => checkUrlAtSubmission(url, config.fetchAllow),
      now,
      onAdmitted: (job) => {
        if (job.inputsReady) void bus.publish({ kind: 'job_ready', pool: job.pool }).catch(() => {});
        else background?.wakeInputFetcher();
      },
      fleetStatus: async () => (fleet === null ? { pools: [] } : await fleet.status()),
      poolPricing: () => fleet?.pricing() ?? new Map(),
      plugins: [
        async (app) => {
          const onModelLoads = (loads: readonly ModelLoad[]): void => observeModelLoads(metrics, loads);
          const maxAttempts = config.maxAttempts;
          const deps = { store, storage, bus, leaseMs, maxAttempts, affinityMaxDelayMs, onModelLoads };
          await app.register(workerRoutes(deps), { prefix: '/v1/worker' });
        },
        ...(config.adminKey === undefined ? [] : [async (app: FastifyInstance) => adminWorkerRoutes(app, store)]),
      ],
    });
    metrics = api.ctx.metrics;
    await api.app.listen({ host: config.host, port: config.port });
  } catch (err) {
    await api?.app.close().catch(() => {});
    await bus.close();
    await store.close();
    throw err;
  }
  const address = api.app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `http://${host}:${port}`;
  options.onListening?.(url);

  const maintenance = new Maintenance({
    store,
    storage,
    bus,
    maxAttempts: config.maxAttempts,
    leaseMs,
    retentionDays: config.retentionDays,
    onError: (what, err) => log.warn({ err }, `maintenance: ${what} failed`),
  });
  maintenance.start();
  background = startBackground({ config, store, storage, bus, log });
  const bg = background;
  const workers = await startInProcessWorkers({ config, service, bus, nodeTypes, log });
  // The fleet runs on one replica at a time: the holder of the `arrakis-fleet` lock.
  const leadership = config.fleet === undefined ? null : lead(config.db, 'arrakis-fleet');
  const fleetStarted =
    config.fleet === undefined || leadership === null
      ? Promise.resolve()
      : startFleetWhenLeader(config.fleet, leadership);
  async function startFleetWhenLeader(path: string, l: Leadership): Promise<void> {
    let lost = false;
    l.onLost(() => {
      lost = true;
      log.error('lost the fleet lock; stopping this replica\'s fleet controller');
      const f = fleet;
      fleet = null;
      void f?.stop();
    });
    await l.acquired;
    if (closing || lost) return;
    const started = await startFleet({ path, store, bus, service, nodeTypes, jobTimeoutMs: config.jobTimeoutSeconds * 1000, log });
    // Shut down or lost the lock while starting: this replica must not keep a fleet.
    if (closing || lost) await started.stop();
    else fleet = started;
  }
  // A bad fleet file stops the start, like any other bad setting (on the replica that leads).
  if (leadership !== null && !config.db.startsWith('postgres')) await fleetStarted;
  else void fleetStarted.catch((err: unknown) => log.error({ err }, 'the fleet could not start'));

  const running = api;
  return {
    url,
    port,
    app: running.app,
    store,
    storage,
    bus,
    workers,
    async close(): Promise<void> {
      closing = true;
      running.drain();
      await running.app.close();
      if (leadership?.held() === true) {
        // Finish (or abort) a start in progress and stop our workers before another replica may lead.
        await fleetStarted.catch(() => {});
        await fleet?.stop();
        await leadership.close();
      } else {
        await leadership?.close();
        await fleetStarted.catch(() => {});
        await fleet?.stop();
      }
      await workers.stop();
      await bg.stop();
      await maintenance.stop();
      await bus.close();
      await store.close();
    },
  };
}
