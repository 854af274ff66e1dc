/** The fleet's state as the admin API shows it (`GET /v1/admin/fleet`), and per-pool pricing for usage. */
import type { FleetController, FleetWorkerState, TickHealth } from './controller.js';
import type { PoolCost } from './cost.js';
import type { FleetConfig } from './fleet-file.js';

export interface FleetWorkerStatus {
  id: string;
  state: FleetWorkerState;
  comfy_url: string | null;
  started_at: string;
  /** The attached agent's state (idle, busy, …), null before one is attached. */
  agent: string | null;
  /** The model its warm-up loaded first, as the model plan chose (null: none). */
  first_model: string | null;
}

/** The model actions the controller last took for the pool (the decision log keeps each one's line). */
export interface FleetModelPlanStatus {
  at: string;
  prefetch: Array<{ worker: string; model: string }>;
  /** Models idle workers' agents were asked to load from their disks into VRAM (and took the ask). */
  preload: Array<{ worker: string; model: string }>;
  /** The first model of each worker started then (null: none chosen). */
  start_with: Array<string | null>;
}

/** A pool's cost so far, snake_case like every JSON the API sends. */
export interface FleetPoolCost {
  worker_seconds: number;
  busy_seconds: number;
  idle_seconds: number;
  jobs: number;
  cost: number;
}

export interface FleetPoolStatus {
  name: string;
  provider: string;
  min: number;
  max: number;
  workers: FleetWorkerStatus[];
  cost: FleetPoolCost;
  /** Null until the model plan has taken an action for this pool. */
  model_plan: FleetModelPlanStatus | null;
}

function costJson(c: PoolCost): FleetPoolCost {
  return {
    worker_seconds: c.workerSeconds,
    busy_seconds: c.busySeconds,
    idle_seconds: c.idleSeconds,
    jobs: c.jobs,
    cost: c.cost,
  };
}

export interface FleetStatus {
  /** Whether the last tick could read the store; a failing tick is retried with backoff. */
  controller: { healthy: boolean; failing_since: string | null; last_error: string | null };
  pools: FleetPoolStatus[];
}

export interface FleetPricing {
  pricePerGpuSecond: number;
  /** Idle (cold start, warm-up, idle) seconds billed per busy second: a job's share of the overhead. */
  idlePerBusySecond: number;
}

/** Builds the admin view from the controller's workers and ledger. */
export function fleetStatus(
  fleet: FleetConfig,
  controller: FleetController,
  agentStatus: (workerId: string) => string | null,
  now: number,
): FleetStatus {
  const health: TickHealth = controller.health();
  return {
    controller: {
      healthy: health.failingSince === null,
      failing_since: health.failingSince === null ? null : new Date(health.failingSince).toISOString(),
      last_error: health.lastError,
    },
    pools: fleet.pools.map((p) => ({
      name: p.name,
      provider: p.provider,
      min: p.min,
      max: p.max,
      workers: controller.list(p.name).map((w) => ({
        id: w.id,
        state: w.state,
        comfy_url: w.comfyUrl,
        started_at: new Date(w.startedAt).toISOString(),
        agent: agentStatus(w.id),
        first_model: w.firstModel,
      })),
      cost: costJson(controller.ledger.poolCost(p.name, now)),
      model_plan: modelPlanStatus(controller, p.name),
    })),
  };
}

function modelPlanStatus(controller: FleetController, pool: string): FleetModelPlanStatus | null {
  const plan = controller.lastModelPlan(pool);
  if (plan === null) return null;
  return {
    at: new Date(plan.at).toISOString(),
    prefetch: plan.actions.prefetch.map((p) => ({ ...p })),
    preload: plan.actions.preload.map((p) => ({ ...p })),
    start_with: [...plan.actions.startWith],
  };
}

/** Price and idle overhead per pool name. */
export function fleetPricing(
  fleet: FleetConfig,
  controller: FleetController,
  now: number,
): Map<string, FleetPricing> {
  const out = new Map<string, FleetPricing>();
  for (const p of fleet.pools) {
    const c = controller.ledger.poolCost(p.name, now);
    out.set(p.name, {
      pricePerGpuSecond: p.pricePerGpuSecond,
      idlePerBusySecond: c.busySeconds > 0 ? c.idleSeconds / c.busySeconds : 0,
    });
  }
  return out;
}
