/**
 * A remote agent may start before its control plane (a host reboot, a deploy that brings both up): it
 * registers with capped exponential backoff and jitter until the control plane answers, logging one warning
 * for the outage and one line when it is over — not one per attempt. Refusals that waiting cannot fix (a
 * revoked or mistyped token, a pool the token does not serve) stop the agent at once.
 */
import { pause, Retry, type BackoffOptions } from '../util/backoff.js';
import type { AgentLog } from './agent-log.js';
import { WorkerApiError } from './remote-job-channel.js';

/** Statuses that mean "this agent is misconfigured", not "the control plane is not there yet". */
const FATAL_STATUSES = new Set([400, 401, 403, 422]);

/** True when waiting and trying again may help (network errors, timeouts, 5xx, a proxy's 404 or 502). */
export function worthRetrying(err: unknown): boolean {
  return !(err instanceof WorkerApiError && FATAL_STATUSES.has(err.status));
}

/**
 * Calls `start` until it succeeds, `signal` aborts (resolves false) or it fails for a reason waiting cannot
 * fix (rethrown). Resolves true once started.
 */
export async function startWithRetry(
  start: () => Promise<void>,
  options: { log: AgentLog; backoff: BackoffOptions; signal: AbortSignal; server: string },
): Promise<boolean> {
  const retry = new Retry(
    `registering with the control plane at ${options.server}`,
    options.log,
    options.backoff,
  );
  while (!options.signal.aborted) {
    try {
      await start();
      retry.succeeded();
      return true;
    } catch (err) {
      if (options.signal.aborted) return false;
      if (!worthRetrying(err)) throw err;
      await pause(retry.failed(err), options.signal);
    }
  }
  return false;
}
