/** Test wiring for an in-process agent on the harness's store, storage and bus (serve wires its own in runtime/). */
import { createComfyServer, type ComfyClientOptions } from '../../src/comfy/http-client.js';
import type { EventBus } from '../../src/events/bus.js';
import type { ObjectStorage } from '../../src/media/storage/contract.js';
import type { Store } from '../../src/store/contract.js';
import type { AgentLog } from '../../src/agent/agent-log.js';
import { Agent } from '../../src/agent/agent.js';
import { LocalJobChannel } from '../../src/agent/local-job-channel.js';
import { ModelKeeper } from '../../src/agent/model-keeper.js';
import { WorkerService } from '../../src/workers/worker-service.js';

export interface LocalAgentOptions {
  store: Store;
  storage: ObjectStorage;
  bus: EventBus;
  leaseMs: number;
  maxAttempts: number;
  comfyUrl: string;
  name: string;
  /** The pool it serves (the server's default pool unless it belongs to another). */
  pool: string;
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
    identity: { name: options.name, pool: options.pool, comfyUrl: options.comfyUrl },
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
