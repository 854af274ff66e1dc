/** Wiring for an in-process agent (`serve --comfyui URL`, `--comfy-lite N`): one call instead of four objects. */
import { createComfyServer, type ComfyClientOptions } from '../comfy/http-client.js';
import type { EventBus } from '../events/bus.js';
import type { ObjectStorage } from '../media/storage/contract.js';
import type { Store } from '../store/contract.js';
import type { AgentLog } from './agent-log.js';
import { Agent } from './agent.js';
import { LocalJobChannel } from './local-job-channel.js';
import { ModelKeeper } from './model-keeper.js';
import { WorkerService } from '../workers/worker-service.js';

export interface LocalAgentOptions {
  store: Store;
  storage: ObjectStorage;
  bus: EventBus;
  leaseMs: number;
  maxAttempts: number;
  comfyUrl: string;
  name: string;
  pool?: string | null;
  /** A fixed worker id (e.g. the fleet provider's handle); a new one otherwise. */
  workerId?: string;
  jobTimeoutMs?: number;
  comfyClient?: ComfyClientOptions;
  log?: AgentLog;
}

/** An Agent for the ComfyUI at `comfyUrl` on this process's store, storage and bus; call `start()` on it. */
export function createLocalAgent(options: LocalAgentOptions): { agent: Agent; close(): Promise<void> } {
  const service = new WorkerService(options);
  const channel = new LocalJobChannel({ service, bus: options.bus, workerId: options.workerId });
  const comfy = createComfyServer(options.comfyUrl, options.comfyClient);
  const agent = new Agent({
    channel,
    comfy,
    identity: { name: options.name, pool: options.pool ?? null, comfyUrl: options.comfyUrl },
    // Reports the models its ComfyUI lists and holds (no model cache: the provider's image carries the files).
    models: new ModelKeeper({ channel, comfyUrl: options.comfyUrl, log: options.log }),
    jobTimeoutMs: options.jobTimeoutMs,
    log: options.log,
  });
  return {
    agent,
    /** Stops the agent (its running job goes back to the queue) and closes its ComfyUI client. */
    async close() {
      await agent.stop();
      await channel.close();
      await comfy.close();
    },
  };
}
