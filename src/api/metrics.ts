/**
 * Prometheus metrics of one serve process, on its own registry (no global state). Names follow Prometheus
 * conventions: base units in the name (`_seconds`), `_total` on counters, few and bounded labels.
 *
 * Two kinds of series: what this replica did (counters and histograms: `sum()` across replicas is the
 * cluster's figure), and the database's state (jobs by status, workers by pool and state), read at scrape
 * time and exported only by the replica that holds the exporter duty, so that `sum()` stays right too.
 * Fleet gauges come only from the replica that runs the fleet.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { JobStatus } from '../jobs/types.js';

const ACTIVE = ['queued', 'running'] as const;

/** One pool's fleet figures, from the replica that runs the fleet. */
export interface FleetGauges {
  pool: string;
  /** What the autoscaler last decided this pool should run. */
  target: number | null;
  /** Workers the controller runs, by state (starting, warming, ready, stopping). */
  workers: Record<string, number>;
  /** Billed cost since this replica took over the fleet. */
  cost: number;
}

/** Where scrape-time gauges read from. */
export interface MetricSources {
  jobsByStatus: () => Promise<Record<JobStatus, number>>;
  workersByPoolAndState?: () => Promise<Array<{ pool: string; state: string; count: number }>>;
  fleet?: () => FleetGauges[];
  /** True on the one replica that exports database-wide gauges (always, without coordination). */
  exportsDatabaseGauges?: () => boolean;
}

export interface Metrics {
  registry: Registry;
  httpDuration: Histogram<'method' | 'route' | 'status'>;
  admissionRejections: Counter<'code'>;
  jobsSubmitted: Counter;
  jobsFinished: Counter<'status' | 'error_code' | 'pool'>;
  queueWait: Histogram<'pool'>;
  runTime: Histogram<'pool'>;
  webhookAttempts: Counter<'result'>;
  webhookDeliveries: Counter<'outcome'>;
  webhookDeliveryAttempts: Histogram<'outcome'>;
  inputFetches: Counter<'outcome' | 'error_code'>;
  /** Model loads workers reported, by tier (`disk`: from the worker's disk, `fetch`: fetched first). */
  modelLoads: Counter<'tier'>;
  modelLoadSeconds: Histogram<'tier'>;
}

/** Label value of a job's pool: jobs that name none run on the default pool. */
export function poolLabel(pool: string | null): string {
  return pool ?? 'default';
}

function jobMetrics(
  registry: Registry,
): Pick<Metrics, 'jobsSubmitted' | 'jobsFinished' | 'queueWait' | 'runTime'> {
  const registers = [registry];
  return {
    jobsSubmitted: new Counter({
      name: 'arrakis_jobs_submitted_total',
      help: 'Jobs admitted by this replica',
      registers,
    }),
    jobsFinished: new Counter({
      name: 'arrakis_jobs_finished_total',
      help: 'Jobs that reached a terminal status, by status, error code ("" when none) and pool',
      labelNames: ['status', 'error_code', 'pool'] as const,
      registers,
    }),
    queueWait: new Histogram({
      name: 'arrakis_job_queue_wait_seconds',
      help: 'Time from admission to the first claim by a worker, by pool',
      labelNames: ['pool'] as const,
      buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900],
      registers,
    }),
    runTime: new Histogram({
      name: 'arrakis_job_run_time_seconds',
      help: 'Time from start to end of a job on a worker, by pool',
      labelNames: ['pool'] as const,
      buckets: [0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 900],
      registers,
    }),
  };
}

function deliveryMetrics(
  registry: Registry,
): Pick<Metrics, 'webhookAttempts' | 'webhookDeliveries' | 'webhookDeliveryAttempts' | 'inputFetches'> {
  const registers = [registry];
  return {
    webhookAttempts: new Counter({
      name: 'arrakis_webhook_attempts_total',
      help: 'Webhook requests made, by what they left the delivery: delivered, pending (retried), failed, disabled',
      labelNames: ['result'] as const,
      registers,
    }),
    webhookDeliveries: new Counter({
      name: 'arrakis_webhook_deliveries_total',
      help: 'Webhook deliveries that ended, by outcome: delivered, failed (retries exhausted), disabled (410)',
      labelNames: ['outcome'] as const,
      registers,
    }),
    webhookDeliveryAttempts: new Histogram({
      name: 'arrakis_webhook_delivery_attempts',
      help: 'Attempts an ended webhook delivery took, by outcome',
      labelNames: ['outcome'] as const,
      buckets: [1, 2, 3, 5, 8, 13],
      registers,
    }),
    inputFetches: new Counter({
      name: 'arrakis_input_fetches_total',
      help: "Jobs' URL-input fetches, by outcome (ok, failed) and error code",
      labelNames: ['outcome', 'error_code'] as const,
      registers,
    }),
  };
}

/** Gauges of the database's state, set only on the exporting replica (absent elsewhere). */
function databaseGauges(registry: Registry, sources: MetricSources): void {
  const exporting = sources.exportsDatabaseGauges ?? (() => true);
  new Gauge({
    name: 'arrakis_database_gauges_exporter',
    help: '1 on the replica that exports the database-wide gauges (arrakis_jobs, arrakis_workers), else 0',
    registers: [registry],
    collect() {
      this.set(exporting() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'arrakis_jobs',
    help: 'Active jobs by status: queue depth (queued) and running (database-wide, one replica exports it)',
    labelNames: ['status'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      if (!exporting()) return;
      const counts = await sources.jobsByStatus();
      for (const s of ACTIVE) this.set({ status: s }, counts[s]);
    },
  });
  const workers = sources.workersByPoolAndState;
  if (workers === undefined) return;
  new Gauge({
    name: 'arrakis_workers',
    help: 'Registered workers by pool and state (database-wide, one replica exports it)',
    labelNames: ['pool', 'state'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      if (!exporting()) return;
      for (const w of await workers()) this.set({ pool: w.pool, state: w.state }, w.count);
    },
  });
}

/** Fleet gauges, present only on the replica that runs the fleet (each reads the fleet's state when scraped). */
function fleetGauges(registry: Registry, read: () => FleetGauges[]): void {
  const registers = [registry];
  new Gauge({
    name: 'arrakis_fleet_target_workers',
    help: "Workers the autoscaler's last decision wants in the pool",
    labelNames: ['pool'] as const,
    registers,
    collect() {
      this.reset();
      for (const p of read()) if (p.target !== null) this.set({ pool: p.pool }, p.target);
    },
  });
  new Gauge({
    name: 'arrakis_fleet_workers',
    help: 'Workers the fleet controller runs, by pool and state (starting, warming, ready, stopping)',
    labelNames: ['pool', 'state'] as const,
    registers,
    collect() {
      this.reset();
      for (const p of read()) {
        for (const [state, n] of Object.entries(p.workers)) this.set({ pool: p.pool, state }, n);
      }
    },
  });
  new Gauge({
    name: 'arrakis_fleet_cost_dollars',
    help: "Billed GPU cost of the pool's workers since this replica took over the fleet",
    labelNames: ['pool'] as const,
    registers,
    collect() {
      this.reset();
      for (const p of read()) this.set({ pool: p.pool }, p.cost);
    },
  });
}

/** Creates the registry and every series. */
export function createMetrics(sources: MetricSources): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  if (sources.fleet !== undefined) fleetGauges(registry, sources.fleet);
  const httpDuration = new Histogram({
    name: 'arrakis_http_request_duration_seconds',
    help: 'HTTP request duration by route (long polls and event streams excluded)',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const admissionRejections = new Counter({
    name: 'arrakis_admission_rejections_total',
    help: 'Job submissions refused, by error code',
    labelNames: ['code'] as const,
    registers: [registry],
  });
  const modelLoads = new Counter({
    name: 'arrakis_model_loads_total',
    help: 'Model loads reported by workers, by tier: disk (a local load) or fetch (fetched, then loaded)',
    labelNames: ['tier'] as const,
    registers: [registry],
  });
  const modelLoadSeconds = new Histogram({
    name: 'arrakis_model_load_seconds',
    help: 'Seconds from a job starting on a worker to its first step, for jobs that loaded a model, by tier',
    labelNames: ['tier'] as const,
    buckets: [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 900],
    registers: [registry],
  });
  databaseGauges(registry, sources);
  return {
    registry,
    httpDuration,
    admissionRejections,
    ...jobMetrics(registry),
    ...deliveryMetrics(registry),
    modelLoads,
    modelLoadSeconds,
  };
}
