/** Prometheus metrics of one serve process, on its own registry (no global state). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { JobStatus } from '../jobs/types.js';

const ACTIVE = ['queued', 'running'] as const;

export interface Metrics {
  registry: Registry;
  httpDuration: Histogram<'method' | 'route' | 'status'>;
  admissionRejections: Counter<'code'>;
  jobsSubmitted: Counter;
  queueWait: Histogram;
  runTime: Histogram;
  /** Model loads workers reported, by tier (`disk`: from the worker's disk, `fetch`: fetched first). */
  modelLoads: Counter<'tier'>;
  modelLoadSeconds: Histogram<'tier'>;
}

/**
 * Creates the registry. `jobsByStatus` is read at scrape time (one grouped count, not a counter that
 * could drift across replicas).
 */
export function createMetrics(jobsByStatus: () => Promise<Record<JobStatus, number>>): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const httpDuration = new Histogram({
    name: 'arrakis_http_request_duration_seconds',
    help: 'HTTP request duration by route',
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
  const jobsSubmitted = new Counter({
    name: 'arrakis_jobs_submitted_total',
    help: 'Jobs admitted by this replica',
    registers: [registry],
  });
  const queueWait = new Histogram({
    name: 'arrakis_job_queue_wait_seconds',
    help: 'Time from admission to a worker starting the job',
    buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300],
    registers: [registry],
  });
  const runTime = new Histogram({
    name: 'arrakis_job_run_time_seconds',
    help: 'Time from start to end of a job on a worker',
    buckets: [0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 900],
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
  new Gauge({
    name: 'arrakis_jobs',
    help: 'Active jobs by status: queue depth (queued) and running',
    labelNames: ['status'] as const,
    registers: [registry],
    async collect() {
      const counts = await jobsByStatus();
      for (const s of ACTIVE) this.set({ status: s }, counts[s]);
    },
  });
  return {
    registry,
    httpDuration,
    admissionRejections,
    jobsSubmitted,
    queueWait,
    runTime,
    modelLoads,
    modelLoadSeconds,
  };
}
