/**
 * A worker running jobs back to back stays `busy`: right after a job it claims (waiting) and reports
 * `idle` only once nothing came for IDLE_REPORT_DELAY_MS, instead of writing `idle` and `busy` around every job (two store writes,
 * or two HTTP calls for a remote agent, per job under load).
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { WorkerStatus } from '../../src/store/contract.js';
import { LocalJobChannel } from '../../src/agent/local-job-channel.js';
import { IDLE_REPORT_DELAY_MS } from '../../src/agent/agent.js';
import { freePort } from '../support/postgres-server.js';
import { delayWorkflow, Harness, invertWorkflow, testComfyClient } from './harness.js';

let h: Harness;

beforeEach(async () => {
  h = await Harness.create();
});

afterEach(async () => {
  await h.close();
});

class RecordingChannel extends LocalJobChannel {
  readonly statuses: WorkerStatus[] = [];
  override async setStatus(status: WorkerStatus): Promise<void> {
    this.statuses.push(status);
    await super.setStatus(status);
  }
}

it('reports idle once before a queue of jobs and once after it, not around each job', async () => {
  const lite = await h.startComfy();
  const jobs = [];
  for (let i = 0; i < 3; i++) jobs.push(await h.admit(invertWorkflow(`batch${i}`)));
  const channel = new RecordingChannel({ service: h.service, bus: h.bus });
  const agent = await h.startAgent(lite.url, { channel });
  for (const job of jobs) expect((await h.waitForEnd(job.id)).status).toBe('completed');
  const deadline = Date.now() + 5_000;
  while (channel.statuses.filter((s) => s === 'idle').length < 2 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
  }
  expect(channel.statuses.filter((s) => s === 'idle' || s === 'busy')).toEqual(['idle', 'busy', 'idle']);
  const worker = await h.store.getWorker(agent.workerId ?? '');
  expect(worker?.status).toBe('idle');
});

it('stays busy between jobs that come a moment apart, and says idle once none came for the delay', async () => {
  const lite = await h.startComfy();
  const channel = new RecordingChannel({ service: h.service, bus: h.bus });
  const agent = await h.startAgent(lite.url, { channel });
  for (let i = 0; i < 3; i++) {
    const job = await h.admit(invertWorkflow(`apart${i}`));
    expect((await h.waitForEnd(job.id)).status).toBe('completed');
  }
  const deadline = Date.now() + 5_000;
  while (channel.statuses.filter((s) => s === 'idle').length < 2 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 5));
  }
  expect(channel.statuses.filter((s) => s === 'idle' || s === 'busy')).toEqual(['idle', 'busy', 'idle']);
  expect((await h.store.getWorker(agent.workerId ?? ''))?.status).toBe('idle');
});

it('says idle after a job even when each claim wait is shorter than the idle delay (a waiting claim that comes back empty first)', async () => {
  const lite = await h.startComfy();
  const channel = new RecordingChannel({ service: h.service, bus: h.bus });
  const agent = await h.startAgent(lite.url, { channel, claimWaitMs: 50 });
  const job = await h.admit(invertWorkflow('short-wait'));
  expect((await h.waitForEnd(job.id)).status).toBe('completed');
  const deadline = Date.now() + 3_000;
  while (channel.statuses.filter((s) => s === 'idle').length < 2 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
  }
  expect(channel.statuses.filter((s) => s === 'idle' || s === 'busy')).toEqual(['idle', 'busy', 'idle']);
  expect((await h.store.getWorker(agent.workerId ?? ''))?.status).toBe('idle');
});

class FailingAfterJobChannel extends RecordingChannel {
  failing = false;
  override async claim(waitMs: number, signal?: AbortSignal): ReturnType<LocalJobChannel['claim']> {
    if (this.failing) throw new Error('control plane away');
    return await super.claim(waitMs, signal);
  }
}

it('stays busy while the claim after a job fails: no idle report during its backoff', async () => {
  const lite = await h.startComfy();
  const channel = new FailingAfterJobChannel({ service: h.service, bus: h.bus });
  const job = await h.admit(invertWorkflow('away'));
  await h.startAgent(lite.url, {
    channel,
    claimBackoffMs: { minMs: 1_000, maxMs: 1_000 },
    onJobDone: () => {
      channel.failing = true;
    },
  });
  expect((await h.waitForEnd(job.id)).status).toBe('completed');
  // Several idle delays pass inside the failed claim's backoff.
  await new Promise((r) => setTimeout(r, 4 * IDLE_REPORT_DELAY_MS));
  expect(channel.statuses.filter((s) => s === 'idle' || s === 'busy')).toEqual(['idle', 'busy']);
});

/** A channel whose status writes fail while `away` (the control plane unreachable for them alone). */
class StatusOutageChannel extends RecordingChannel {
  away: (status: WorkerStatus) => boolean = () => false;
  /** The first report of `status` fails; every other report goes through. */
  failOnce(status: WorkerStatus): void {
    let failed = false;
    this.away = (s) => {
      if (s !== status || failed) return false;
      failed = true;
      return true;
    };
  }
  override async setStatus(status: WorkerStatus): Promise<void> {
    if (this.away(status)) {
      this.statuses.push(status);
      throw new Error('control plane away');
    }
    await super.setStatus(status);
  }
}

it('sends an idle report lost in an outage again once the control plane answers', async () => {
  const lite = await h.startComfy();
  const channel = new StatusOutageChannel({ service: h.service, bus: h.bus });
  const agent = await h.startAgent(lite.url, { channel, claimWaitMs: 50 });
  const job = await h.admit(invertWorkflow('lost-idle'));
  channel.away = (status) => status === 'idle';
  expect((await h.waitForEnd(job.id)).status).toBe('completed');
  const tried = Date.now() + 5_000;
  while (channel.statuses.filter((s) => s === 'idle').length < 2 && Date.now() < tried) {
    await new Promise((r) => setTimeout(r, 10));
  }
  // The idle report after the job failed: the store still says busy.
  expect((await h.store.getWorker(agent.workerId ?? ''))?.status).toBe('busy');
  channel.away = () => false;
  const deadline = Date.now() + 5_000;
  while ((await h.store.getWorker(agent.workerId ?? ''))?.status !== 'idle' && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
  }
  expect((await h.store.getWorker(agent.workerId ?? ''))?.status).toBe('idle');
});

it('sends a busy report lost in an outage again with the next job it claims', async () => {
  const lite = await h.startComfy();
  const channel = new StatusOutageChannel({ service: h.service, bus: h.bus });
  channel.failOnce('busy');
  const first = await h.admit(invertWorkflow('lost-busy-1'));
  const second = await h.admit(invertWorkflow('lost-busy-2'));
  await h.startAgent(lite.url, { channel });
  for (const job of [first, second]) expect((await h.waitForEnd(job.id)).status).toBe('completed');
  const deadline = Date.now() + 5_000;
  while (channel.statuses.filter((s) => s === 'idle').length < 2 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
  }
  // The first job's busy report failed; the second job's claim sends it again (the store said idle meanwhile).
  expect(channel.statuses.filter((s) => s === 'idle' || s === 'busy')).toEqual([
    'idle',
    'busy',
    'busy',
    'idle',
  ]);
});

it('sends an unhealthy report lost in an outage again while its ComfyUI stays down', async () => {
  const port = await freePort();
  const channel = new StatusOutageChannel({ service: h.service, bus: h.bus });
  channel.failOnce('unhealthy');
  const agent = await h.startAgent(`http://127.0.0.1:${port}`, { channel });
  const deadline = Date.now() + 5_000;
  while ((await h.store.getWorker(agent.workerId ?? ''))?.status !== 'unhealthy' && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
  }
  expect((await h.store.getWorker(agent.workerId ?? ''))?.status).toBe('unhealthy');
  // Once sent, the health re-checks send nothing more.
  await new Promise((r) => setTimeout(r, 500));
  expect(channel.statuses.filter((s) => s === 'unhealthy')).toEqual(['unhealthy', 'unhealthy']);
});

/**
 * A channel whose first `status` report of `status` fails (an outage; with `firstFails` false, it hangs too)
 * and whose `status` reports after it hang until `release`; `tries` counts those calls.
 */
function hangingStatusChannel(
  status: WorkerStatus,
  firstFails = true,
): {
  channel: RecordingChannel;
  release: () => void;
  tries: () => number;
} {
  const channel = new RecordingChannel({ service: h.service, bus: h.bus });
  let release = (): void => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  let tries = 0;
  channel.setStatus = async (s: WorkerStatus): Promise<void> => {
    channel.statuses.push(s);
    if (s !== status) return;
    tries += 1;
    if (tries === 1 && firstFails) throw new Error('control plane away');
    await released;
  };
  return { channel, release: () => release(), tries: () => tries };
}

it('claims after a bounded wait when its very first idle report hangs', async () => {
  const lite = await h.startComfy();
  const { channel, release, tries: idleTries } = hangingStatusChannel('idle', false);
  await h.startAgent(lite.url, { channel, statusReportWaitMs: 100 });
  try {
    const job = await h.admit(invertWorkflow('hanging-first-idle'));
    // The first idle report, with nothing ahead of it, hangs (a remote agent's call, up to its 30 s timeout).
    expect((await h.waitForEnd(job.id, 5_000)).status).toBe('completed');
    expect(idleTries()).toBe(1);
    // The busy report queued behind the hanging one is still on its way, in order.
    expect(channel.statuses).toEqual(['idle']);
  } finally {
    release();
  }
  await expect.poll(() => channel.statuses.slice(0, 2)).toEqual(['idle', 'busy']);
});

it('does not hold up its claim while an idle report it sends again hangs', async () => {
  const lite = await h.startComfy();
  const { channel, release, tries: idleTries } = hangingStatusChannel('idle');
  await h.startAgent(lite.url, { channel, claimWaitMs: 50 });
  const deadline = Date.now() + 5_000;
  while (idleTries() < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  expect(idleTries()).toBeGreaterThanOrEqual(2);
  try {
    const job = await h.admit(invertWorkflow('hanging-idle'));
    expect((await h.waitForEnd(job.id)).status).toBe('completed');
  } finally {
    release();
  }
});

it('queues no more idle reports while the one it sends again hangs: one call once the control plane answers', async () => {
  const lite = await h.startComfy();
  const { channel, release, tries: idleTries } = hangingStatusChannel('idle');
  const agent = await h.startAgent(lite.url, { channel, claimWaitMs: 20 });
  const deadline = Date.now() + 5_000;
  while (idleTries() < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  expect(idleTries()).toBe(2);
  // Many idle turns (claim waits) pass while the report sent again hangs.
  await new Promise((r) => setTimeout(r, 300));
  release();
  await new Promise((r) => setTimeout(r, 300));
  expect(idleTries()).toBe(2);
  expect(agent.status).toBe('idle');
});

it('keeps health-checking its ComfyUI on its backoff while an unhealthy report it sends again hangs', async () => {
  const port = await freePort();
  const { channel, release, tries } = hangingStatusChannel('unhealthy');
  const comfy = testComfyClient(`http://127.0.0.1:${port}`);
  let checks = 0;
  const health = comfy.health.bind(comfy);
  comfy.health = async () => {
    checks += 1;
    return await health();
  };
  await h.startAgent(`http://127.0.0.1:${port}`, { channel, comfy, healthBackoffMs: { min: 20, max: 20 } });
  try {
    const deadline = Date.now() + 5_000;
    while (tries() < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(tries()).toBe(2);
    const before = checks;
    // The report sent again hangs (as a remote agent's call can, up to its request timeout): the re-checks go on.
    await new Promise((r) => setTimeout(r, 400));
    expect(checks - before).toBeGreaterThanOrEqual(4);
    expect(tries()).toBe(2);
  } finally {
    release();
  }
});

it('claims once its ComfyUI is back while an unhealthy report it sends again still hangs', async () => {
  const port = await freePort();
  const { channel, release, tries } = hangingStatusChannel('unhealthy');
  await h.startAgent(`http://127.0.0.1:${port}`, { channel, healthBackoffMs: { min: 20, max: 20 } });
  try {
    const deadline = Date.now() + 5_000;
    while (tries() < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(tries()).toBe(2);
    // ComfyUI comes back while the report sent again hangs (as a remote agent's call can, up to its timeout).
    await h.startComfy({ port });
    const job = await h.admit(invertWorkflow('back-while-hanging'));
    expect((await h.waitForEnd(job.id, 5_000)).status).toBe('completed');
  } finally {
    release();
  }
});

it('health-checks and claims again after its ComfyUI dies mid-job while its busy report hangs', async () => {
  const port = await freePort();
  let lite = await h.startComfy({ port });
  const channel = new RecordingChannel({ service: h.service, bus: h.bus });
  let release = (): void => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  channel.setStatus = async (status: WorkerStatus): Promise<void> => {
    channel.statuses.push(status);
    // The busy report hangs (as a remote agent's call can, up to its request timeout); the rest go through.
    if (status === 'busy') await released;
  };
  await h.startAgent(lite.url, { channel, healthBackoffMs: { min: 20, max: 20 } });
  try {
    const job = await h.admit(delayWorkflow(2));
    await h.waitFor(job.id, (j) => j.progress !== null);
    await lite.close();
    // The run gives the job back; the unhealthy report that follows queues behind the hanging busy one.
    await h.waitFor(job.id, (j) => j.status === 'queued');
    lite = await h.startComfy({ port });
    const done = await h.waitForEnd(job.id, 8_000);
    expect(done.status).toBe('completed');
    expect(done.attempts).toBe(2);
  } finally {
    release();
  }
});
