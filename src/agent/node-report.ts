/**
 * A remote agent tells the control plane which nodes its ComfyUI has, so the control plane can convert
 * UI-format workflows and check node types for it. Sent at start and then periodically: a restarted control
 * plane forgets what it was told, and custom nodes may be installed while the agent runs.
 */
import type { NodeDefinition } from '../comfy/node-definitions.js';
import { pause, Retry } from '../util/backoff.js';
import type { AgentLog } from './agent-log.js';

export interface NodeReportDeps {
  /** The ComfyUI's definitions, read fresh. */
  read(): Promise<ReadonlyMap<string, NodeDefinition>>;
  send(definitions: readonly NodeDefinition[]): Promise<void>;
  log: AgentLog;
  everyMs: number;
}

/** Reports now and every `everyMs` until `signal` aborts; failures are logged once per outage and retried. */
export async function reportNodeDefinitions(deps: NodeReportDeps, signal: AbortSignal): Promise<void> {
  const retry = new Retry('reporting the node definitions', deps.log, {
    minMs: Math.min(deps.everyMs, 1000),
    maxMs: Math.min(deps.everyMs, 10_000),
  });
  while (!signal.aborted) {
    let waitMs = deps.everyMs;
    try {
      await deps.send([...(await deps.read()).values()]);
      retry.succeeded();
    } catch (err) {
      waitMs = retry.failed(err);
    }
    await pause(waitMs, signal);
  }
}
