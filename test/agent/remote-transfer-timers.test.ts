/**
 * RemoteJobChannel against a real control plane (the worker API on 127.0.0.1 over a SQLite store): once a
 * transfer (an input download, an output upload) or a control call is over, its time bound is gone — no timer
 * left pending for the rest of its limit (5.5 minutes per transfer by default) and no listener left on the job's
 * stop signal. Timers are counted with async_hooks: each Timeout from creation until it is cleared or fires.
 */
import { createHook } from 'node:async_hooks';
import { getEventListeners } from 'node:events';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { RemoteJobChannel } from '../../src/agent/remote-job-channel.js';
import { issueWorkerToken } from '../../src/api/routes/workers.js';
import { Harness, delayWorkflow } from './harness.js';

let h: Harness;
let serverUrl: string;

beforeEach(async () => {
  h = await Harness.create();
  ({ url: serverUrl } = await h.startWorkerApi({ maxOutputBytes: 1024 * 1024 }));
});

afterEach(async () => {
  await h.close();
});

// Limits no other timer in the process has, so the channel's own timers can be told apart.
const CONTROL_MS = 29_017;
const TRANSFER_MS = 331_019;

/** Counts the live Timeouts whose delay is one of `delays` (created and neither cleared nor fired yet). */
function liveTimers(delays: readonly number[]): { count: () => number; stop: () => void } {
  const live = new Set<number>();
  const hook = createHook({
    init(id, type, _trigger, resource) {
      const delay = (resource as { _idleTimeout?: unknown })._idleTimeout;
      if (type === 'Timeout' && typeof delay === 'number' && delays.includes(delay)) live.add(id);
    },
    destroy(id) {
      live.delete(id);
    },
  }).enable();
  return { count: () => live.size, stop: () => hook.disable() };
}

it('leaves no timer and no listener behind after many transfers and control calls', async () => {
  const { token } = await issueWorkerToken(h.store, 'gpu-1', 'default');
  const channel = new RemoteJobChannel({
    serverUrl,
    token,
    requestTimeoutMs: CONTROL_MS,
    transferTimeoutMs: TRANSFER_MS,
  });
  const picture = Buffer.alloc(2048, 9);
  const stored = await h.storage.put('inputs/in_t/pic.png', picture, 'image/png');
  const job = await h.admit(delayWorkflow(1), [
    {
      name: 'pic',
      filename: 'pic.png',
      contentType: 'image/png',
      objectKey: stored.key,
      size: picture.length,
    },
  ]);
  await channel.register({ name: 'w', pool: 'default', comfyUrl: 'http://127.0.0.1:1' });
  const leased = await channel.claim(0);
  expect(leased?.id).toBe(job.id);
  const input = leased?.inputs[0];
  if (input === undefined) throw new Error('the job has no input');

  const timers = liveTimers([CONTROL_MS, TRANSFER_MS]);
  const jobStop = new AbortController();
  try {
    const rounds = 10;
    for (let seq = 0; seq < rounds; seq++) {
      expect(await channel.getInput(job.id, input, jobStop.signal)).toEqual(picture);
      const file = {
        seq,
        nodeId: '3',
        filename: `out-${seq}.png`,
        contentType: 'image/png',
        bytes: Buffer.alloc(4096, seq),
        type: 'output' as const,
      };
      expect((await channel.storeOutput(job.id, file)).size).toBe(4096);
      expect(await channel.heartbeat(job.id)).toBe('held');
    }
    // Timers are destroyed on the next turn of the event loop after clearTimeout.
    await new Promise((resolve) => setImmediate(resolve));
    expect(timers.count()).toBe(0);
    expect(getEventListeners(jobStop.signal, 'abort')).toHaveLength(0);
  } finally {
    timers.stop();
    await channel.close();
  }
});
