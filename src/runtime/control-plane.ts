/**
 * `arrakis serve` as a library: opens the store, storage and bus from the config, builds the API,
 * listens, and starts the background parts (in-process agents, input fetcher, webhook deliverer,
 * maintenance, fleet). `close()` shuts down in the reverse order: stop accepting, finish in-flight
 * requests, give running jobs back, close connections.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { buildApi, type Api } from '../api/app.js';
import { createMetrics, type Metrics } from '../api/metrics.js';
import { workerRoutes } from '../api/routes/workers.js';
import type { Config } from '../config/load.js';
import type { EventBus } from '../events/bus.js';
import { loadFleet } from '../fleet/fleet-runtime.js';
import { Maintenance } from '../jobs/maintenance.js';
import { NodeTypeRegistry } from '../jobs/node-type-registry.js';
import { openStorage } from '../media/storage/open-storage.js';
import type { ObjectStorage } from '../media/storage/contract.js';
import { checkUrlAtSubmission } from '../media/url-policy.js';
import type { Job } from '../jobs/types.js';
import type { Store } from '../store/contract.js';
import type { Coordination } from '../store/coordination.js';
import { openMigratedStore } from '../store/open.js';
import { WorkerService } from '../workers/worker-service.js';
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
 * (checked) and the store's coordination, or the first error.
 */
async function openFoundations(
  config: Config,
  defaultPool: string,
  log: Logger,
): Promise<{ store: Store; storage: ObjectStorage; coordination: Coordination }> {
  const store = await openMigratedStore(config.db);
  try {
    const adopted = await store.adoptUnpooledJobs(defaultPool);
    if (adopted > 0)
      log.info({ jobs: adopted, pool: defaultPool }, 'jobs stored without a pool joined the default pool');
    const storage = openStorage(config.storage, { presignTtlSeconds: config.presignTtlSeconds });
    await storage.check();
    return { store, storage, coordination: await store.coordination({ log }) };
  } catch (err) {
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

/** Starts a control plane from a validated config. */
export async function startControlPlane(
  config: Config,
  options: ControlPlaneOptions = {},
): Promise<ControlPlane> {
  const log = options.log ?? createLogger({ level: config.logLevel, pretty: options.prettyLog });
  // Everything that can be wrong with the settings is found before listening: a bad one stops the start.
  const fleetFile = config.fleet === undefined ? null : await loadFleet(config.fleet);
  const defaultPool = resolveDefaultPool(config.defaultPool, fleetFile?.config ?? null);
  const { store, storage, coordination } = await openFoundations(config, defaultPool, log);
  const bus = coordination.bus;
  const nodeTypes = new NodeTypeRegistry();
  const leaseMs = config.leaseSeconds * 1000;
  const affinityMaxDelayMs = config.affinityMaxDelaySeconds * 1000;
  let fleet: FleetDuty | null = null;
  const observed = metricSources({
    store,
    coordination,
    fleetStatus: () => fleet?.status() ?? { pools: [] },
  });
  const metrics = createMetrics(observed.sources);
  const telemetry = new JobTelemetry(log, metrics);
  // The in-process agents' service and the worker API's share these hooks: every claim and report is seen.
  const jobHooks = {
    onClaimed: (job: Job, workerId: string) => telemetry.claimed(job, workerId),
    onRequeued: (job: Job) => telemetry.requeued(job),
    onFinished: (job: Job) => telemetry.finished(job),
  };
  const service = new WorkerService({
    store,
    storage,
    bus,
    leaseMs,
    maxAttempts: config.maxAttempts,
    ...jobHooks,
    affinityMaxDelayMs,
    onModelLoads: (loads) => observeModelLoads(metrics, loads),
  });
  const now = (): number => Date.now();

  const knownPools = new KnownPools({
    store,
    defaultPool,
    ...(fleetFile === null ? {} : { fleetPools: fleetFile.config.pools.map((p) => p.name) }),
  });
  let background: Background | null = null;
  let api: Api | null = null;
  try {
    if (config.templates !== undefined) await loadTemplatesDir(store, config.templates, now);
    api = await buildApi({
      config,
      log,
      metrics,
      store,
      storage,
      bus,
      nodeTypes,
      storeBase64Input: (jobId, name, b64, filename) => storeBase64Input(storage, jobId, name, b64, filename),
      storeUploadedInput: (jobId, name, bytes, filename) =>
        storeUploadedInput(storage, jobId, name, bytes, filename),
      checkUrl: (url) => checkUrlAtSubmission(url, config.fetchAllow),
      now,
      defaultPool,
      unknownPool: (pool) => knownPools.unknown(pool),
      onCancelledQueued: (job) => telemetry.finished(job),
      onAdmitted: (job, origin) => {
        telemetry.admitted(job, origin);
        if (job.inputsReady) void bus.publish({ kind: 'job_ready', pool: job.pool }).catch(() => {});
        else background?.wakeInputFetcher();
      },
      // The default pool beside the pools: which pool runs the jobs that name none (`arrakis bench` watches it).
      fleetStatus: async () => ({ default_pool: defaultPool, ...(fleet?.status() ?? { pools: [] }) }),
      poolPricing: () => fleet?.pricing() ?? new Map(),
      workerApi: workerRoutes({
        store,
        storage,
        bus,
        leaseMs,
        maxAttempts: config.maxAttempts,
        affinityMaxDelayMs,
        onModelLoads: (loads: readonly ModelLoad[]): void => observeModelLoads(metrics, loads),
        nodeTypes,
        ...jobHooks,
      }),
    });
    await api.app.listen({ host: config.host, port: config.port });
  } catch (err) {
    await api?.app.close().catch(() => {});
    await observed.exporter.close();
    await store.close();
    throw err;
  }
  const { url, port } = listeningAt(api.app, config);
  options.onListening?.(url);

  const maintenance = new Maintenance({
    store,
    storage,
    bus,
    maxAttempts: config.maxAttempts,
    leaseMs,
    retentionDays: config.retentionDays,
    log,
    onLeaseExpired: (job) => (job.status === 'queued' ? telemetry.requeued(job) : telemetry.finished(job)),
  });
  maintenance.start();
  background = startBackground({ config, store, storage, bus, log, telemetry });
  const bg = background;
  const workers = await startInProcessWorkers({
    config,
    pool: defaultPool,
    service,
    bus,
    nodeTypes,
    log,
    comfyLiteInProcess: options.comfyLiteInProcess === true,
  }).catch(async (err: unknown) => {
    // A comfy-lite child that cannot start stops the start; nothing may be left listening or running.
    await api?.app.close().catch(() => {});
    await bg.stop();
    await maintenance.stop();
    await observed.exporter.close();
    await store.close();
    throw err;
  });
  if (fleetFile !== null) {
    const jobTimeoutMs = config.jobTimeoutSeconds * 1000;
    fleet = runFleetDuty(coordination, fleetFile, {
      store,
      bus,
      service,
      nodeTypes,
      jobTimeoutMs,
      log,
      onDecision: (d) => observed.targets.set(d.pool, d.target),
    });
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
      running.drain();
      // In-flight requests get a grace period; a connection still busy after it (a client that stalls
      // mid-request, or one Node's idle check misses) is cut so shutdown never hangs on it.
      const cut = setTimeout(() => running.app.server.closeAllConnections(), SHUTDOWN_GRACE_MS);
      cut.unref();
      await running.app.close();
      clearTimeout(cut);
      await fleet?.stop();
      await workers.stop();
      await bg.stop();
      await maintenance.stop();
      await observed.exporter.close();
      // Closes the bus and gives up any duty with it.
      await store.close();
    },
  };
}
