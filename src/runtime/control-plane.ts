/**
 * `arrakis serve` as a library: opens the store, storage and bus from the config, builds the API,
 * listens, and starts the background parts (in-process agents, input fetcher, webhook deliverer,
 * maintenance, fleet). `close()` shuts down in the reverse order: stop accepting, finish in-flight
 * requests, give running jobs back, close connections.
 */
import type { FastifyInstance } from 'fastify';
import { IdleClaimers } from '../jobs/lifecycle/idle-claimers.js';
import type { Logger } from 'pino';
import { buildApi, type Api } from '../api/app.js';
import type { ApiDeps } from '../api/context.js';
import { createMetrics, type Metrics } from '../api/metrics.js';
import { workerRoutes } from '../api/routes/workers.js';
import type { Config } from '../config/load.js';
import type { EventBus } from '../events/bus.js';
import { loadFleet } from '../fleet/fleet-runtime.js';
import { Maintenance } from '../jobs/maintenance.js';
import { RecentCompletions } from '../jobs/recent-completions.js';
import { NodeTypeRegistry } from '../jobs/node-type-registry.js';
import { openStorage } from '../media/storage/open-storage.js';
import type { ObjectStorage } from '../media/storage/contract.js';
import { checkUrlAtSubmission } from '../media/url-policy.js';
import type { Store } from '../store/contract.js';
import type { Coordination } from '../store/coordination.js';
import { openMigratedStore } from '../store/open.js';
import { migrationRetryMessage } from '../store/migration-errors.js';
import { WorkerService, type WorkerServiceDeps } from '../workers/worker-service.js';
import type { ModelLoad } from '../workers/job-channel.js';
import { storeBase64Input, storeUploadedInput } from './base64-input.js';
import { startInProcessWorkers, type InProcessWorkers } from './in-process-workers.js';
import { startBackground, type Background } from './background.js';
import { KnownPools, resolveDefaultPool } from './known-pools.js';
import { loadTemplatesDir } from './templates-dir.js';
import { runFleetDuty, type FleetDuty } from './fleet-duty.js';
import { JobTelemetry } from './job-telemetry.js';
import { createLogger } from './log.js';
import { metricSources } from './metric-sources.js';

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
  /** Run comfy-lite inside this process, not as child processes (tests that need its in-process hooks). */
  comfyLiteInProcess?: boolean;
  /** Human-readable log lines (`arrakis dev` on a terminal) instead of JSON. */
  prettyLog?: boolean;
}

function observeModelLoads(metrics: Metrics, loads: readonly ModelLoad[]): void {
  for (const l of loads) {
    metrics.modelLoads.inc({ tier: l.tier });
    metrics.modelLoadSeconds.observe({ tier: l.tier }, l.seconds);
  }
}

/**
 * The database (migrated, jobs stored without a pool adopted into the default pool), the object storage
 * (checked) and the store's coordination, or the first error. closeFoundations runs after everything that
 * writes to them has stopped.
 */
async function openFoundations(
  config: Config,
  defaultPool: string,
  log: Logger,
): Promise<{
  store: Store;
  storage: ObjectStorage;
  coordination: Coordination;
  /** Stops the storage (its file writer thread would outlive the plane), then closes the store. */
  closeFoundations: () => Promise<void>;
}> {
  const store = await openMigratedStore(config.db, {
    onMigrationRetry: (retry) => log.warn({ ...retry }, migrationRetryMessage(retry)),
  });
  let storage: ObjectStorage | undefined;
  try {
    const adopted = await store.adoptUnpooledJobs(defaultPool);
    if (adopted > 0)
      log.info({ jobs: adopted, pool: defaultPool }, 'jobs stored without a pool joined the default pool');
    storage = openStorage(config.storage, { presignTtlSeconds: config.presignTtlSeconds });
    await storage.check();
    const opened = storage;
    const closeFoundations = async (): Promise<void> => {
      try {
        await opened.close?.();
      } finally {
        await store.close();
      }
    };
    return { store, storage, coordination: await store.coordination({ log }), closeFoundations };
  } catch (err) {
    await storage?.close?.();
    await store.close();
    throw err;
  }
}

function listeningAt(app: FastifyInstance, config: Config): { url: string; port: number } {
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  return { url: `http://${host}:${port}`, port };
}

/** How long shutdown waits for in-flight requests before closing their connections. */
const SHUTDOWN_GRACE_MS = 10_000;

/** What the in-process agents' service and the worker API share: every claim and report is seen alike. */
function workerDeps(
  config: Config,
  parts: { store: Store; storage: ObjectStorage; bus: EventBus },
  metrics: Metrics,
  telemetry: JobTelemetry,
  log: Logger,
): WorkerServiceDeps {
  return {
    ...parts,
    log,
    leaseMs: config.leaseSeconds * 1000,
    maxAttempts: config.maxAttempts,
    affinityMaxDelayMs: config.affinityMaxDelaySeconds * 1000,
    onModelLoads: (loads) => observeModelLoads(metrics, loads),
    onClaimed: (job, workerId) => telemetry.claimed(job, workerId),
    onRequeued: (job) => telemetry.requeued(job),
    onFinished: (job) => telemetry.finished(job),
    recentCompletions: new RecentCompletions(),
    idleClaimers: new IdleClaimers(),
  };
}

interface ApiParts {
  config: Config;
  log: Logger;
  metrics: Metrics;
  telemetry: JobTelemetry;
  shared: WorkerServiceDeps;
  nodeTypes: NodeTypeRegistry;
  defaultPool: string;
  knownPools: KnownPools;
  /** Late-bound: the background parts and the fleet start after the API listens. */
  wakeInputFetcher: () => void;
  fleet: () => FleetDuty | null;
}

/** The API's dependencies, wired to the store, storage, bus and the parts that start after it. */
function apiDeps(p: ApiParts): ApiDeps {
  const { config, shared } = p;
  const { store, storage, bus } = shared;
  return {
    config,
    log: p.log,
    metrics: p.metrics,
    store,
    storage,
    bus,
    nodeTypes: p.nodeTypes,
    storeBase64Input: (jobId, name, b64, filename) => storeBase64Input(storage, jobId, name, b64, filename),
    storeUploadedInput: (jobId, name, bytes, filename) =>
      storeUploadedInput(storage, jobId, name, bytes, filename),
    checkUrl: (url) => checkUrlAtSubmission(url, config.fetchAllow),
    now: () => Date.now(),
    defaultPool: p.defaultPool,
    unknownPool: (pool) => p.knownPools.unknown(pool),
    onCancelledQueued: (job) => p.telemetry.finished(job),
    // The lifecycle wakes the pool of a claimable job; one with URL inputs waits for the fetcher.
    onAdmitted: (job, origin) => {
      p.telemetry.admitted(job, origin);
      if (!job.inputsReady) p.wakeInputFetcher();
    },
    // The default pool beside the pools: which pool runs the jobs that name none (`arrakis bench` watches it).
    fleetStatus: async () => ({ default_pool: p.defaultPool, ...(p.fleet()?.status() ?? { pools: [] }) }),
    poolPricing: () => p.fleet()?.pricing() ?? new Map(),
    workerApi: workerRoutes({ ...shared, nodeTypes: p.nodeTypes }),
    recentCompletions: shared.recentCompletions,
    ...(shared.idleClaimers !== undefined && { idleClaimers: shared.idleClaimers }),
  };
}

/**
 * Runs `stops` last-first, each once, and every one of them even when one fails (the store still closes
 * after a worker that would not stop); then throws the first failure.
 */
export async function stopAll(stops: Array<() => Promise<void>>): Promise<void> {
  const failures: unknown[] = [];
  for (const stop of stops.splice(0).reverse()) {
    try {
      await stop();
    } catch (err) {
      failures.push(err);
    }
  }
  if (failures.length > 0) throw failures[0];
}

/** Maintenance (leases, retention) and the background loops (input fetcher, webhooks, relays), each on `stops`. */
function startHousekeeping(
  config: Config,
  shared: WorkerServiceDeps,
  log: Logger,
  telemetry: JobTelemetry,
  stops: Array<() => Promise<void>>,
): Background {
  const { store, storage, bus, leaseMs } = shared;
  const maintenance = new Maintenance({
    ...{ store, storage, bus, leaseMs, log },
    maxAttempts: config.maxAttempts,
    retentionDays: config.retentionDays,
    onLeaseExpired: (job) => (job.status === 'queued' ? telemetry.requeued(job) : telemetry.finished(job)),
  });
  maintenance.start();
  stops.push(() => maintenance.stop());
  const background = startBackground({ config, store, storage, bus, log, telemetry });
  stops.push(() => background.stop());
  return background;
}

/**
 * Stops accepting requests. In-flight requests get a grace period; a connection still busy after it (a client
 * that stalls mid-request, or one Node's idle check misses) is cut so shutdown never hangs on it.
 */
async function closeApi(api: Api): Promise<void> {
  api.drain();
  const cut = setTimeout(() => api.app.server.closeAllConnections(), SHUTDOWN_GRACE_MS);
  cut.unref();
  await api.app.close();
  clearTimeout(cut);
}

/** Starts a control plane from a validated config. */
export async function startControlPlane(
  config: Config,
  options: ControlPlaneOptions = {},
): Promise<ControlPlane> {
  const log = options.log ?? createLogger({ level: config.logLevel, pretty: options.prettyLog });
  // Everything that can be wrong with the settings is found before listening: a bad one stops the start.
  const fleetFile = config.fleet === undefined ? null : await loadFleet(config.fleet);
  const defaultPool = resolveDefaultPool(config.defaultPool, fleetFile?.config ?? null);
  const { store, storage, coordination, closeFoundations } = await openFoundations(config, defaultPool, log);
  const bus = coordination.bus;
  const nodeTypes = new NodeTypeRegistry();
  let fleet: FleetDuty | null = null;
  const fleetStatus = () => fleet?.status() ?? { pools: [] };
  const observed = metricSources({ store, coordination, fleetStatus });
  // Undone last-first when the start fails, and by close().
  const stops: Array<() => Promise<void>> = [closeFoundations, () => observed.exporter.close()];
  const metrics = createMetrics(observed.sources);
  const telemetry = new JobTelemetry(log, metrics);
  const shared = workerDeps(config, { store, storage, bus }, metrics, telemetry, log);
  const service = new WorkerService(shared);
  const fleetPools = fleetFile?.config.pools.map((p) => p.name);
  const knownPools = new KnownPools({
    store,
    defaultPool,
    ...(fleetPools === undefined ? {} : { fleetPools }),
  });
  let background: Background | null = null;
  let api: Api;
  let appClosed = false;
  try {
    if (config.templates !== undefined) await loadTemplatesDir(store, config.templates, () => Date.now());
    api = await buildApi(
      apiDeps({
        ...{ config, log, metrics, telemetry, shared, nodeTypes, defaultPool, knownPools },
        wakeInputFetcher: () => background?.wakeInputFetcher(),
        fleet: () => fleet,
      }),
    );
    const app = api.app;
    // close() closes the app first, with a grace period; this stop is for a start that fails later.
    stops.push(async () => {
      if (!appClosed) await app.close().catch(() => {});
    });
    await app.listen({ host: config.host, port: config.port });
  } catch (err) {
    await stopAll(stops).catch(() => {}); // the start's own error is the one to report
    throw err;
  }
  const { url, port } = listeningAt(api.app, config);
  options.onListening?.(url);

  background = startHousekeeping(config, shared, log, telemetry, stops);
  const comfyLiteInProcess = options.comfyLiteInProcess === true;
  const local = { config, pool: defaultPool, service, bus, nodeTypes, log, comfyLiteInProcess };
  const workers = await startInProcessWorkers(local).catch(async (err: unknown) => {
    // A comfy-lite child that cannot start stops the start; nothing may be left listening or running.
    await stopAll(stops).catch(() => {}); // the start's own error is the one to report
    throw err;
  });
  stops.push(() => workers.stop());
  if (fleetFile !== null) {
    const duty = runFleetDuty(coordination, fleetFile, {
      ...{ store, bus, service, nodeTypes, log },
      jobTimeoutMs: config.jobTimeoutSeconds * 1000,
      onDecision: (d) => observed.targets.set(d.pool, d.target),
    });
    fleet = duty;
    stops.push(() => duty.stop());
  }

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
      await closeApi(running);
      appClosed = true;
      // Then the fleet, workers, background, maintenance, metrics exporter and store (it closes the bus and
      // gives up any duty with it), last-started first.
      await stopAll(stops);
    },
  };
}
