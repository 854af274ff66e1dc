/**
 * A lease renewal whose call hangs (a connection gone dead without a reset: a NAT entry dropped, a proxy that
 * stopped answering) must not hold back the renewals after it: each call is given two renewal intervals, and the
 * next beat goes out beside it. Before, the agent sent no renewal while one was on its way, so one hanging call
 * (up to the 30 s request timeout, about the lease itself) let a live run's lease expire: the job went back to the
 * queue and ran again. Here the worker API holds the first heartbeat without answering, leases are 3 s (a renewal
 * every second) and a sweep runs every 100 ms.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { RemoteJobChannel } from '../../src/agent/remote-job-channel.js';
import { issueWorkerToken } from '../../src/api/routes/workers.js';
import { Harness, delayWorkflow } from './harness.js';

let h: Harness;
let releaseHeld: () => void = () => {};

beforeEach(async () => {
  h = await Harness.create({ leaseMs: 3_000 });
});

afterEach(async () => {
  releaseHeld();
  await h.close();
});

/**
 * A remote agent on a worker API (3 s leases) that holds the renewal calls `hangs` picks without answering
 * (until the test ends). `heartbeats()` counts the renewal calls that arrived.
 */
async function agentWithHangingRenewals(
  hangs: (n: number) => boolean,
): Promise<{ heartbeats: () => number }> {
  let heartbeats = 0;
  const held = new Promise<void>((resolve) => {
    releaseHeld = resolve;
  });
  const { url } = await h.startWorkerApi({
    leaseMs: 3_000,
    routeFiles: [
      (s) => {
        s.addHook('onRequest', async (request) => {
          if (!request.url.endsWith('/heartbeat')) return;
          heartbeats += 1;
          if (hangs(heartbeats)) await held;
        });
      },
    ],
  });
  const { token } = await issueWorkerToken(h.store, 'gpu-1', 'default');
  const lite = await h.startComfy();
  await h.startAgent(lite.url, { channel: new RemoteJobChannel({ serverUrl: url, token }) });
  return { heartbeats: () => heartbeats };
}

it('keeps renewing while one renewal call hangs: the job completes in its first attempt', async () => {
  const { heartbeats } = await agentWithHangingRenewals((n) => n === 1);
  const requeued: string[] = [];
  const sweep = setInterval(() => {
    void h.store.expireLeases(3, Date.now()).then((outcomes) => {
      for (const o of outcomes) requeued.push(`${o.jobId} ${o.outcome}`);
    });
  }, 100);
  h.onClose(async () => clearInterval(sweep));

  const job = await h.admit(delayWorkflow(4));
  const done = await h.waitForEnd(job.id, 12_000);
  expect(requeued).toEqual([]);
  expect(done).toMatchObject({ status: 'completed', attempts: 1 });
  // The first call hung; the ones after it renewed the lease.
  expect(heartbeats()).toBeGreaterThanOrEqual(3);
});

it('gives up a hanging renewal call after two intervals, so renewals keep going out', async () => {
  // Every renewal call hangs (a control plane path gone dead).
  const { heartbeats } = await agentWithHangingRenewals(() => true);
  const job = await h.admit(delayWorkflow(30));
  await h.waitFor(job.id, (j) => j.status === 'running');
  // Renewals every second, two at most on their way, each given up after 2 s: a third goes out by about 3 s
  // after the claim. Held for the 30 s request timeout instead, no third would go out for 30 s.
  await expect.poll(heartbeats, { timeout: 6_000 }).toBeGreaterThanOrEqual(3);
});
