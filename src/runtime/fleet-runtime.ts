/**
 * `--fleet fleet.yaml` inside serve: the FleetController observes each pool through the store, starts and
 * stops workers through the pool's provider, and this module attaches an in-process agent to every worker
 * that comes up (claiming only its pool's jobs, and jobs that name no pool) and detaches it before a stop.
 * Only one replica runs it at a time (control-plane.ts takes the fleet lock first; see leadership.ts).
 */
import type { Logger } from 'pino';
import { Agent } from '../agent/agent.js';
import { LocalJobChannel } from '../agent/local-job-channel.js';
import type { WorkerService } from '../agent/worker-service.js';
import { createComfyServer } from '../comfy/http-client.js';
import { parseWorkflow } from '../comfy/workflow-check.js';
import type { EventBus } from '../events/bus.js';
import { ACTIVITY_WINDOW_MS, ActivityTracker } from '../fleet/activity.js';
import { HISTORY_DAYS } from '../fleet/arrival-history.js';
import { FleetController, type FleetWorker } from '../fleet/controller.js';
import { loadFleetFile } from '../fleet/fleet-file.js';
import { createProvider } from '../fleet/providers/create.js';
import type { FleetProvider } from '../fleet/providers/contract.js';
import type { NodeTypeRegistry } from '../jobs/node-type-registry.js';
import { UNPOOLED, type PoolPricing } from '../api/context.js';
import type { Store } from '../store/contract.js';
import { newId } from '../util/ids.js';

export interface FleetRuntime {
  /** Price and idle overhead per pool ('' = jobs that name no pool, which run on the first pool). */
  pricing(): ReadonlyMap<string, PoolPricing>;
  status(): Promise<unknown>;
  stop(): Promise<void>;
}

export interface FleetRuntimeDeps {
  path: string;
  store: Store;
  bus: EventBus;
  service: WorkerService;
  nodeTypes: NodeTypeRegistry;
  jobTimeoutMs: number;
  log: Logger;
  tickMs?: number;
}

interface Attached {
  agent: Agent;
  close(): Promise<void>;
}

/** Loads the fleet file, builds providers and starts the controller loop. */
export async function startFleet(deps: FleetRuntimeDeps): Promise<FleetRuntime> {
  const fleet = await loadFleetFile(deps.path);
  const providers = new Map<string, FleetProvider>();
  for (const pool of fleet.pools) providers.set(pool.name, await createProvider(pool));
  const activity = new ActivityTracker();
  const attached = new Map<string, Attached>();
  // Jobs that name no pool run on the first pool. Arrivals are read from the store (every replica's
  // admissions), each once: `seen` is the newest creation time already fed to the tracker.
  const poolsOf = (pool: string): Array<string | null> => (pool === fleet.pools[0]?.name ? [pool, null] : [pool]);
  // The first look reaches back a week, so the hour-of-day profile starts from history, not empty.
  const seen = new Map<string, number>();
  const observeActivity = async (pool: string, now: number): Promise<ReadonlySet<string>> => {
    const last = seen.get(pool);
    const since = last === undefined ? now - HISTORY_DAYS * 86_400_000 : Math.max(last + 1, now - ACTIVITY_WINDOW_MS);
    if (last === undefined) seen.set(pool, since);
    const found = await deps.store.fleetActivity(poolsOf(pool), since);
    for (const at of found.arrivals) activity.submitted(pool, at);
    const newest = found.arrivals[found.arrivals.length - 1];
    if (newest !== undefined) seen.set(pool, newest);
    return new Set(found.activeUsers);
  };

  const attach = async (worker: FleetWorker): Promise<void> => {
    if (worker.comfyUrl === null) return;
    const comfy = createComfyServer(worker.comfyUrl);
    const agent = new Agent({
      channel: new LocalJobChannel({ service: deps.service, bus: deps.bus, workerId: worker.id }),
      comfy,
      identity: { name: worker.id, pool: worker.pool, comfyUrl: worker.comfyUrl },
      jobTimeoutMs: deps.jobTimeoutMs,
      log: deps.log,
      onJobDone: (jobId) => {
        void deps.store.getJob(jobId).then((job) => {
          if (job === null) return;
          activity.finished(worker.pool, `${job.accountId}/${job.userId}`, Date.now());
          if (job.startedAt !== null && job.finishedAt !== null) {
            controller.ledger.jobRan(worker.pool, (job.finishedAt - job.startedAt) / 1000);
          }
        });
      },
    });
    await agent.start();
    comfy
      .nodeDefinitions()
      .then((definitions) => deps.nodeTypes.set(worker.id, new Set(definitions.keys()), definitions))
      .catch(() => {});
    attached.set(worker.id, {
      agent,
      close: async () => {
        await agent.stop();
        deps.nodeTypes.remove(worker.id);
        await comfy.close();
      },
    });
  };

  const detach = async (worker: FleetWorker): Promise<void> => {
    const a = attached.get(worker.id);
    attached.delete(worker.id);
    await a?.close();
  };

  const controller = new FleetController({
    pools: fleet.pools,
    providers,
    newWorkerId: () => newId('wrk'),
    tickMs: deps.tickMs ?? 2000,
    observe: async (pool, now) => {
      const activeUsers = await observeActivity(pool, now);
      const counts = await deps.store.countJobsByStatus(pool);
      // Jobs that name no pool run on the first pool.
      if (pool === fleet.pools[0]?.name) {
        const unpooled = await deps.store.countJobsByStatus(null);
        counts.queued += unpooled.queued;
        counts.running += unpooled.running;
      }
      const workerStates = new Map<string, 'idle' | 'busy'>();
      for (const [id, a] of attached) workerStates.set(id, a.agent.status === 'busy' ? 'busy' : 'idle');
      return {
        queued: counts.queued,
        running: counts.running,
        ...activity.recent(pool, now),
        activeUsers,
        workerStates,
      };
    },
    record: async (d) => {
      if (d.start > 0 || d.stop.length > 0 || d.current !== d.target) {
        await deps.store.recordScalingDecision({ pool: d.pool, at: d.at, current: d.current, target: d.target, reason: d.reason });
      }
    },
    onWorkerReady: attach,
    onWorkerStopped: detach,
    onWorkerFailed: (worker, err) => deps.log.warn({ err: String(err), worker: worker.id }, 'fleet worker failed to start'),
    drain: async (worker) => {
      const a = attached.get(worker.id);
      if (a === undefined) return true;
      if (a.agent.status === 'busy') return false;
      await detach(worker);
      return true;
    },
    runWarmup: async (worker, workflow) => {
      if (worker.comfyUrl === null) return;
      const parsed = parseWorkflow(workflow);
      if (parsed === null) throw new Error(`pool ${worker.pool}: the warm-up workflow is malformed`);
      const comfy = createComfyServer(worker.comfyUrl);
      try {
        await comfy.runPrompt(parsed, { promptId: `warmup-${worker.id}` });
      } finally {
        await comfy.close();
      }
    },
  });
  controller.start();

  return {
    pricing() {
      const now = Date.now();
      const out = new Map<string, PoolPricing>();
      for (const p of fleet.pools) {
        const c = controller.ledger.poolCost(p.name, now);
        const entry = { pricePerGpuSecond: p.pricePerGpuSecond, idlePerBusySecond: c.busySeconds > 0 ? c.idleSeconds / c.busySeconds : 0 };
        out.set(p.name, entry);
        if (p === fleet.pools[0]) out.set(UNPOOLED, entry);
      }
      return out;
    },
    async status() {
      const now = Date.now();
      return {
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
            agent: attached.get(w.id)?.agent.status ?? null,
          })),
          cost: controller.ledger.poolCost(p.name, now),
        })),
      };
    },
    async stop() {
      await controller.close({ stopWorkers: true });
      await Promise.allSettled([...attached.values()].map((a) => a.close()));
      attached.clear();
    },
  };
}
