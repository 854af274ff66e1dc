/**
 * The agents a serve process runs itself: one per `--comfyui URL` and one per comfy-lite (`--comfy-lite N`),
 * each comfy-lite a supervised child process (comfy-lite-child.ts). Each agent learns its ComfyUI's node types
 * so submission can refuse unknown ones.
 */
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { Agent } from '../agent/agent.js';
import { LocalJobChannel } from '../agent/local-job-channel.js';
import { ModelKeeper } from '../agent/model-keeper.js';
import { ModelCache } from '../models/model-cache.js';
import { parseLoaderList } from '../models/model-refs.js';
import type { WorkerService } from '../workers/worker-service.js';
import { createComfyServer } from '../comfy/http-client.js';
import type { ComfyServer } from '../comfy/contract.js';
import { startComfyLite, type ComfyLiteServer } from '../comfy-lite/server.js';
import type { Config } from '../config/load.js';
import type { EventBus } from '../events/bus.js';
import type { NodeTypeRegistry } from '../jobs/node-type-registry.js';
import { ComfyLiteChild } from './comfy-lite-child.js';

export interface InProcessWorkers {
  agents: Agent[];
  /** comfy-lite child processes (the default). */
  comfyLiteChildren: ComfyLiteChild[];
  /** comfy-lite servers inside this process (only with `comfyLiteInProcess`, for tests that need its hooks). */
  comfyLites: ComfyLiteServer[];
  stop(): Promise<void>;
}

export interface InProcessWorkerDeps {
  config: Pick<Config, 'comfyui' | 'comfyLite' | 'comfyLiteMaxPixels' | 'jobTimeoutSeconds'> &
    Partial<Pick<Config, 'modelsDir' | 'modelCacheGb' | 'vramModels' | 'modelLoaders'>>;
  /** The pool these agents serve: the default pool. */
  pool: string;
  /** Run comfy-lite inside this process instead of as children: no crash isolation; tests only. */
  comfyLiteInProcess?: boolean;
  service: WorkerService;
  bus: EventBus;
  nodeTypes: NodeTypeRegistry;
  log: Logger;
}

async function learnNodeTypes(
  agent: Agent,
  comfy: ComfyServer,
  registry: NodeTypeRegistry,
  log: Logger,
): Promise<void> {
  try {
    const [catalog, definitions] = await Promise.all([comfy.nodeCatalog(), comfy.nodeDefinitions()]);
    if (agent.workerId !== null) {
      registry.set(agent.workerId, catalog.types, { fileInputs: catalog.fileInputs, definitions });
    }
  } catch (err) {
    log.warn(
      { err: String(err), url: comfy.url },
      'could not read /object_info; node types unchecked for this worker',
    );
  }
}

/** The agent's model tracking; with `--models-dir`, its model cache (shared by the in-process agents). */
function modelKeeper(deps: InProcessWorkerDeps, channel: LocalJobChannel, comfyUrl: string): ModelKeeper {
  const c = deps.config;
  const log = deps.log;
  const cache =
    c.modelsDir === undefined
      ? null
      : new ModelCache({
          dir: c.modelsDir,
          budgetBytes: (c.modelCacheGb ?? 100) * 1e9,
          onRetry: (name, attempt, reason) =>
            log.warn({ name, attempt, reason }, 'model download refused; retrying'),
          onProgress: (name, bytes, total) => log.info({ name, bytes, total }, 'model download'),
        });
  const loaders = parseLoaderList((c.modelLoaders ?? []).join(','));
  return new ModelKeeper({ channel, comfyUrl, cache, vramModels: c.vramModels, loaders, log });
}

/** Starts comfy-lite servers and one agent per ComfyUI URL. */
export async function startInProcessWorkers(deps: InProcessWorkerDeps): Promise<InProcessWorkers> {
  const comfyLites: ComfyLiteServer[] = [];
  const children: ComfyLiteChild[] = [];
  const maxPixels = deps.config.comfyLiteMaxPixels;
  try {
    for (let i = 0; i < deps.config.comfyLite; i++) {
      if (deps.comfyLiteInProcess === true) {
        comfyLites.push(await startComfyLite({ host: '127.0.0.1', port: 0, maxPixels }));
      } else {
        children.push(await ComfyLiteChild.start({ index: i + 1, maxPixels, log: deps.log }));
      }
    }
  } catch (err) {
    await Promise.allSettled([...comfyLites.map((c) => c.close()), ...children.map((c) => c.stop())]);
    throw err;
  }
  const urls = [...deps.config.comfyui, ...comfyLites.map((c) => c.url), ...children.map((c) => c.url)];
  const agents: Agent[] = [];
  const comfies: ComfyServer[] = [];
  for (const [i, url] of urls.entries()) {
    const comfy = createComfyServer(url);
    const channel = new LocalJobChannel({ service: deps.service, bus: deps.bus });
    const agent = new Agent({
      channel,
      comfy,
      models: modelKeeper(deps, channel, url),
      identity: {
        // The host in the name: a restarted replica's agent is the same slot (WorkerService.releaseLeftover),
        // another replica's agent on the same ComfyUI is not.
        name: i < deps.config.comfyui.length ? `comfyui-${i + 1}@${hostname()}` : `comfy-lite-${i + 1}`,
        pool: deps.pool,
        comfyUrl: url,
      },
      jobTimeoutMs: deps.config.jobTimeoutSeconds * 1000,
      log: deps.log,
    });
    await agent.start();
    void learnNodeTypes(agent, comfy, deps.nodeTypes, deps.log);
    agents.push(agent);
    comfies.push(comfy);
  }
  return {
    agents,
    comfyLiteChildren: children,
    comfyLites,
    async stop(): Promise<void> {
      await Promise.allSettled(agents.map((a) => a.stop()));
      for (const a of agents) if (a.workerId !== null) deps.nodeTypes.remove(a.workerId);
      await Promise.allSettled(comfies.map((c) => c.close()));
      await Promise.allSettled(comfyLites.map((c) => c.close()));
      await Promise.allSettled(children.map((c) => c.stop()));
    },
  };
}
