/**
 * The agents of fleet workers: one in-process agent attached to every worker that comes up (claiming its
 * pool's jobs), detached before a stop. The model plan's preloads reach the agent of the worker here (its pool's
 * warm-up workflow made to load the model, run while the worker is free: agent/model-preloader.ts). When a job leaves an agent its finish feeds the activity tracker and
 * the cost ledger; a store error there is logged once per outage and costs only that sample.
 */
import type { Logger } from 'pino';
import { Agent } from '../agent/agent.js';
import { LocalJobChannel } from '../agent/local-job-channel.js';
import { ModelKeeper } from '../agent/model-keeper.js';
import { ModelCache } from '../models/model-cache.js';
import type { WorkerService } from '../workers/worker-service.js';
import { createComfyServer } from '../comfy/http-client.js';
import type { EventBus } from '../events/bus.js';
import type { NodeTypeRegistry } from '../jobs/node-type-registry.js';
import type { Store } from '../store/contract.js';
import { Retry } from '../util/backoff.js';
import type { ActivityTracker } from './activity.js';
import type { FleetWorker } from './controller.js';
import type { CostLedger } from './cost.js';
import type { PoolConfig } from './fleet-file.js';
import type { ModelRef } from '../models/model-refs.js';
import { baseModel } from './model-demand.js';
import { warmupLoading } from './warmup-model.js';
import type { AgentActivity } from './policy-types.js';

/**
 * How long an idle fleet agent's claim waits before it reports again: its report is where it hears a
 * prefetch the model plan asked for, so this bounds how late a prefetch starts (the agent's default is 20 s).
 */
const FLEET_CLAIM_WAIT_MS = 3_000;

export interface WorkerAgentsDeps {
  store: Pick<Store, 'getJob'>;
  bus: EventBus;
  service: WorkerService;
  nodeTypes: NodeTypeRegistry;
  activity: ActivityTracker;
  ledger: CostLedger;
  jobTimeoutMs: number;
  log: Logger;
  /** The fleet file's pools by name (VRAM models and the model cache of their workers). */
  pools?: ReadonlyMap<string, PoolConfig>;
}

interface Attached {
  agent: Agent;
  models: ModelKeeper;
  close(): Promise<void>;
}

/** Attaches, drains and detaches the agents of fleet workers. */
export class WorkerAgents {
  private readonly attached = new Map<string, Attached>();
  private readonly finishes: Retry;
  private readonly caches = new Map<string, ModelCache>();

  constructor(private readonly deps: WorkerAgentsDeps) {
    this.finishes = new Retry('reading a finished fleet job', deps.log);
  }

  /** Registers an agent for a ready worker; throws when the store cannot register it. */
  async attach(worker: FleetWorker): Promise<void> {
    if (worker.comfyUrl === null) return;
    const comfy = createComfyServer(worker.comfyUrl);
    const channel = new LocalJobChannel({
      service: this.deps.service,
      bus: this.deps.bus,
      workerId: worker.id,
    });
    const pool = this.deps.pools?.get(worker.pool);
    const warmup = pool?.warmup?.kind === 'inline' ? pool.warmup.workflow : null;
    const models = new ModelKeeper({
      channel,
      comfyUrl: worker.comfyUrl,
      cache: this.cacheFor(worker),
      vramModels: pool?.models?.vramModels ?? 1,
      log: this.deps.log,
      ...(warmup === null ? {} : { preload: { comfy, loading: (ref) => warmupLoading(warmup, ref) } }),
    });
    const agent = new Agent({
      channel,
      comfy,
      models,
      claimWaitMs: FLEET_CLAIM_WAIT_MS,
      identity: { name: worker.id, pool: worker.pool, comfyUrl: worker.comfyUrl },
      jobTimeoutMs: this.deps.jobTimeoutMs,
      log: this.deps.log,
      onJobDone: (jobId) => void this.jobDone(worker.pool, jobId),
    });
    try {
      await agent.start();
    } catch (err) {
      await comfy.close();
      throw err;
    }
    Promise.all([comfy.nodeCatalog(), comfy.nodeDefinitions()]).then(
      ([catalog, definitions]) =>
        this.deps.nodeTypes.set(worker.id, catalog.types, { fileInputs: catalog.fileInputs, definitions }),
      () => {},
    );
    this.attached.set(worker.id, {
      agent,
      models,
      close: async () => {
        await agent.stop();
        this.deps.nodeTypes.remove(worker.id);
        this.caches.delete(worker.id);
        await comfy.close();
      },
    });
  }

  /**
   * The model cache in the worker's ComfyUI `models/` folder (the same one for its warm-up and its agent),
   * or null when its pool keeps none.
   */
  cacheFor(worker: FleetWorker): ModelCache | null {
    if (worker.modelsDir === null) return null;
    const known = this.caches.get(worker.id);
    if (known !== undefined) return known;
    const gb = this.deps.pools?.get(worker.pool)?.process?.modelCacheGb ?? 100;
    const log = this.deps.log;
    const cache = new ModelCache({
      dir: worker.modelsDir,
      budgetBytes: gb * 1e9,
      onRetry: (name, attempt, reason) =>
        log.warn({ worker: worker.id, name, attempt, reason }, 'model download refused; retrying'),
    });
    this.caches.set(worker.id, cache);
    return cache;
  }

  /**
   * The model plan's preload: asks the worker's agent to load `ref` from its disk into VRAM while it is free.
   * False when the ask is not taken (no agent, it cannot preload it, it is already resident or loading, or its
   * preload failed lately).
   */
  preload(workerId: string, ref: ModelRef): boolean {
    return this.attached.get(workerId)?.models.preload(ref) ?? false;
  }

  /** The models whose preload the worker's agent gave up on for a while (the plan asks it for none of them). */
  preloadRefused(workerId: string): readonly string[] {
    return this.attached.get(workerId)?.models.preloadRefused() ?? [];
  }

  /** Detaches the worker's agent (a running job is given back first). */
  async detach(worker: FleetWorker): Promise<void> {
    const a = this.attached.get(worker.id);
    this.attached.delete(worker.id);
    await a?.close();
  }

  /** Detaches an idle worker's agent; false when it is busy (then the worker must not be stopped). */
  async drain(worker: FleetWorker): Promise<boolean> {
    const a = this.attached.get(worker.id);
    if (a === undefined) return true;
    if (a.agent.status === 'busy') return false;
    await this.detach(worker);
    return true;
  }

  /** The agent's state of a worker, or null when none is attached. */
  agentStatus(workerId: string): string | null {
    return this.attached.get(workerId)?.agent.status ?? null;
  }

  states(): ReadonlyMap<string, AgentActivity> {
    const out = new Map<string, AgentActivity>();
    for (const [id, a] of this.attached) out.set(id, a.agent.status === 'busy' ? 'busy' : 'idle');
    return out;
  }

  async closeAll(): Promise<void> {
    const all = [...this.attached.values()];
    this.attached.clear();
    await Promise.allSettled(all.map((a) => a.close()));
  }

  /** Feeds a finished job to the autoscaler's activity and the pool's busy time. Never rejects. */
  private async jobDone(pool: string, jobId: string): Promise<void> {
    try {
      const job = await this.deps.store.getJob(jobId);
      this.finishes.succeeded();
      if (job === null) return;
      const model = baseModel(job.models ?? [])?.name ?? null;
      this.deps.activity.finished(pool, `${job.accountId}/${job.userId}`, Date.now(), model);
      if (job.startedAt !== null && job.finishedAt !== null) {
        this.deps.ledger.jobRan(pool, (job.finishedAt - job.startedAt) / 1000);
      }
    } catch (err) {
      this.finishes.failed(err, { jobId });
    }
  }
}
