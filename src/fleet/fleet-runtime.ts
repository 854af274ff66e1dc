/**
 * `--fleet fleet.yaml` inside serve, in named parts: `loadFleet` reads and checks the file and builds the
 * providers (before serve listens, so a bad file stops the start); `startFleet` runs the FleetController with a
 * PoolObserver (what the store knows), WorkerAgents (an in-process agent per ready worker) and the
 * decision recorder. Only one replica runs it at a time: the runtime starts it when this process gains the
 * `arrakis-fleet` duty from the store's coordination and stops it when the duty is lost.
 */
import type { Logger } from 'pino';
import type { WorkerService } from '../workers/worker-service.js';
import { createComfyServer } from '../comfy/http-client.js';
import { parseWorkflow } from '../comfy/workflow-check.js';
import type { EventBus } from '../events/bus.js';
import type { NodeTypeRegistry } from '../jobs/node-type-registry.js';
import type { Store } from '../store/contract.js';
import { Retry } from '../util/backoff.js';
import { newId } from '../util/ids.js';
import { ActivityTracker } from './activity.js';
import { FleetController, type FleetWorker } from './controller.js';
import { CostLedger } from './cost.js';
import { loadFleetFile, type FleetConfig, type PoolConfig } from './fleet-file.js';
import { fleetPricing, fleetStatus, type FleetPricing, type FleetStatus } from './fleet-status.js';
import { ModelDemand } from './model-demand.js';
import { ModelObserver } from './model-observer.js';
import type { Decision } from './policy-types.js';
import { PoolObserver } from './pool-observer.js';
import { createProvider } from './providers/create.js';
import type { FleetProvider } from './providers/contract.js';
import { warmupLoading } from './warmup-model.js';
import { WorkerAgents } from './worker-agents.js';

/** A checked fleet file with a provider per pool, ready to start. */
export interface LoadedFleet {
  config: FleetConfig;
  providers: ReadonlyMap<string, FleetProvider>;
}

export interface FleetRuntime {
  /** Price and idle overhead per pool name. */
  pricing(): ReadonlyMap<string, FleetPricing>;
  status(): FleetStatus;
  stop(): Promise<void>;
}

export interface FleetRuntimeDeps {
  store: Store;
  bus: EventBus;
  service: WorkerService;
  nodeTypes: NodeTypeRegistry;
  jobTimeoutMs: number;
  log: Logger;
  tickMs?: number;
  /** Called with every decision of the autoscaler (metrics: the pool's target). Must not throw. */
  onDecision?: (decision: Decision) => void;
  /** False while this replica's hold on the fleet duty is in doubt: the controller then acts on nothing. */
  leading?: () => boolean;
}

/** Reads and validates the fleet file and builds each pool's provider; throws FleetConfigError when bad. */
export async function loadFleet(path: string): Promise<LoadedFleet> {
  const config = await loadFleetFile(path);
  const providers = new Map<string, FleetProvider>();
  for (const pool of config.pools) providers.set(pool.name, await createProvider(pool));
  return { config, providers };
}

/** Starts the controller loop over a loaded fleet. */
export function startFleet(fleet: LoadedFleet, deps: FleetRuntimeDeps): FleetRuntime {
  const activity = new ActivityTracker();
  const ledger = new CostLedger(new Map(fleet.config.pools.map((p) => [p.name, p.pricePerGpuSecond])));
  const pools = new Map(fleet.config.pools.map((p) => [p.name, p]));
  const agents = new WorkerAgents({ ...deps, activity, ledger, pools });
  const demand = new ModelDemand();
  const observer = new PoolObserver({
    store: deps.store,
    activity,
    workerStates: () => agents.states(),
    models: new ModelObserver({
      store: deps.store,
      demand,
      preloadRefused: (id) => agents.preloadRefused(id),
    }),
  });
  const models = modelHooks(deps, agents, demand);
  const record = decisionRecorder(deps.store);
  const controller = new FleetController({
    pools: fleet.config.pools,
    providers: fleet.providers,
    newWorkerId: () => newId('wrk'),
    tickMs: deps.tickMs ?? 2000,
    ledger,
    observe: (pool, now) => observer.observe(pool, now),
    record: (d) => {
      deps.onDecision?.(d);
      return record(d);
    },
    onWorkerReady: (worker) => agents.attach(worker),
    onWorkerStopped: (worker) => agents.detach(worker),
    onWorkerFailed: (worker, err) =>
      deps.log.warn({ err: String(err), worker: worker.id }, 'fleet worker failed to start'),
    onTickFailed: tickFailureLog(deps.log),
    drain: (worker) => agents.drain(worker),
    runWarmup,
    ...models,
    ...(deps.leading === undefined ? {} : { leading: deps.leading }),
  });
  controller.start();
  return {
    pricing: () => fleetPricing(fleet.config, controller, Date.now()),
    status: () => fleetStatus(fleet.config, controller, (id) => agents.agentStatus(id), Date.now()),
    async stop() {
      // Ticks end first; then the agents let go while their ComfyUIs still answer (a running job is given
      // back as a voluntary release, spending no attempt); only then are the workers stopped.
      await controller.close({ stopWorkers: false });
      await agents.closeAll();
      await controller.close({ stopWorkers: true });
      await agents.closeAll();
    },
  };
}

/** Persists decisions that change something (and every failed tick), not the steady "no change" ones. */
function decisionRecorder(store: Pick<Store, 'recordScalingDecision'>): (d: Decision) => Promise<void> {
  return async (d) => {
    const changed = d.start > 0 || d.stop.length > 0 || d.current !== d.target || d.models !== undefined;
    if (changed || d.reason.includes('failed:')) {
      await store.recordScalingDecision({
        pool: d.pool,
        at: d.at,
        current: d.current,
        target: d.target,
        reason: d.reason,
      });
    }
  };
}

/**
 * The model plan's live actions: prefetch onto an idle worker's disk, preload from its disk into VRAM, and a
 * new worker's first model.
 */
function modelHooks(deps: FleetRuntimeDeps, agents: WorkerAgents, demand: ModelDemand) {
  return {
    preloadModel: async (worker: FleetWorker, model: string) => {
      // The plan preloads only models its demand names, so their kind is known.
      const ref = demand.ref(model);
      return ref !== null && agents.preload(worker.id, ref);
    },
    prefetchModel: async (worker: FleetWorker, model: string) => {
      const file = await deps.store.getModelFile(model);
      if (file === null) throw new Error(`${model} is not in the model registry`);
      await deps.service.prefetchModels(worker.id, [{ kind: file.kind, name: file.name }]);
    },
    warmModel: async (worker: FleetWorker, model: string, pool: PoolConfig) => {
      const workflow = pool.warmup?.kind === 'inline' ? pool.warmup.workflow : null;
      const file = await deps.store.getModelFile(model);
      const cache = agents.cacheFor(worker);
      const ref = file === null ? null : { kind: file.kind, name: file.name };
      try {
        if (ref !== null && cache !== null)
          await cache.ensure([ref], (name) => deps.store.getModelFile(name));
        // Without a warm-up that loads it, the file waits on disk: the first job pays a local load, no fetch.
        const loading = workflow === null || ref === null ? null : warmupLoading(workflow, ref);
        if (loading !== null || workflow !== null) await runWarmup(worker, loading ?? workflow!);
        deps.log.info({ worker: worker.id, model, loaded: loading !== null }, 'fleet worker warmed up');
      } catch (err) {
        deps.log.warn({ worker: worker.id, model, err: String(err) }, 'first model warm-up failed');
        throw err;
      }
    },
  };
}

/** A tick that failed (and could not even be recorded) is logged once per outage. */
function tickFailureLog(log: Logger): (failed: boolean, err?: unknown) => void {
  const retry = new Retry('the fleet controller tick', log);
  return (failed, err) => {
    if (failed) retry.failed(err);
    else retry.succeeded();
  };
}

/** Runs the pool's warm-up workflow on a new worker before it takes jobs. */
async function runWarmup(worker: FleetWorker, workflow: Record<string, unknown>): Promise<void> {
  if (worker.comfyUrl === null) return;
  const parsed = parseWorkflow(workflow);
  if (parsed === null) throw new Error(`pool ${worker.pool}: the warm-up workflow is malformed`);
  const comfy = createComfyServer(worker.comfyUrl);
  try {
    await comfy.runPrompt(parsed, { promptId: `warmup-${worker.id}` });
  } finally {
    await comfy.close();
  }
}
