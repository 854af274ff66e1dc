/**
 * Output files of a run that lost its lease are deleted, not left to retention (which never comes with
 * `--retention-days 0`): the files named by a completion the control plane refuses, and a file whose upload was
 * under way when the lease expired. The re-run's outputs are untouched. Real SQLite, file storage, comfy-lite;
 * the first run's agent is in-process, or remote over the worker API on a real port.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import Fastify from 'fastify';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RemoteJobChannel } from '../../src/agent/remote-job-channel.js';
import { issueWorkerToken, workerRoutes } from '../../src/api/routes/workers.js';
import type { JobChannel } from '../../src/workers/job-channel.js';
import type { ComfyServer, PromptOutcome } from '../../src/comfy/contract.js';
import { Maintenance } from '../../src/jobs/maintenance.js';
import type { Job } from '../../src/jobs/types.js';
import type { ComfyLiteServer } from '../../src/comfy-lite/server.js';
import { Harness, invertWorkflow, testComfyClient } from './harness.js';

let h: Harness;
/** Lets go of every held prompt outcome (a failed test must not leave its agent waiting on one). */
const releaseAll: Array<() => void> = [];

beforeEach(async () => {
  // A long lease: the agent's heartbeat (every third of it) never notices the expiry these tests make.
  h = await Harness.create({ leaseMs: 60_000 });
});

afterEach(async () => {
  for (const release of releaseAll.splice(0)) release();
  vi.restoreAllMocks();
  await h.close();
});

/** The first run's channel: in-process, or a remote agent's over the worker API served on a real port. */
async function firstChannel(kind: 'in-process' | 'remote'): Promise<{ channel?: JobChannel }> {
  if (kind === 'in-process') return {};
  // Closed after the agents that talk to it stop, before the store closes; it cuts the connections of the first
  // agent's long-polls (left open after its run was lost) rather than wait for them.
  const api = Fastify({ forceCloseConnections: true });
  h.onClose(() => api.close());
  const deps = { store: h.store, storage: h.storage, bus: h.bus, leaseMs: 60_000, maxAttempts: 3 };
  await api.register(workerRoutes(deps), { prefix: '/v1/worker' });
  const serverUrl = await api.listen({ host: '127.0.0.1', port: 0 });
  const { token } = await issueWorkerToken(h.store, 'gpu-1', 'default');
  return { channel: new RemoteJobChannel({ serverUrl, token }) };
}

/** Resolves once `check` holds (polling), or throws after `ms`. */
async function until(what: string, check: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function stored(key: string): Promise<boolean> {
  const found = await h.storage.get(key);
  found?.body.destroy();
  return found !== null;
}

/** A ComfyUI client that holds the prompt's outcome until `release()` (the first run only). */
function heldComfy(url: string): { comfy: ComfyServer; reached: Promise<void>; release: () => void } {
  const real = testComfyClient(url);
  let reached!: () => void;
  let release!: () => void;
  const reachedP = new Promise<void>((resolve) => (reached = resolve));
  const released = new Promise<void>((resolve) => (release = resolve));
  releaseAll.push(release);
  const comfy: ComfyServer = Object.assign(Object.create(real) as ComfyServer, {
    runPrompt: async (...args: Parameters<ComfyServer['runPrompt']>): Promise<PromptOutcome> => {
      const outcome = await real.runPrompt(...args);
      reached();
      await released;
      return outcome;
    },
  });
  return { comfy, reached: reachedP, release };
}

/** The lease sweep of a replica whose clock runs two minutes ahead: every running job's lease has expired. */
function sweepFromTheFuture(): Maintenance {
  return new Maintenance({
    ...{ store: h.store, storage: h.storage, bus: h.bus },
    maxAttempts: 3,
    leaseMs: 60_000,
    retentionDays: 0,
    now: () => Date.now() + 120_000,
  });
}

/** The re-run completed on a second agent: its output is listed, stored, and holds that run's bytes. */
async function expectRerunServed(job: Job, second: ComfyLiteServer): Promise<void> {
  const done = await h.waitForEnd(job.id);
  expect(done.status).toBe('completed');
  expect(done.attempts).toBe(2);
  expect(done.outputs.map((o) => o.objectKey)).toEqual([`jobs/${job.id}/outputs/2.0-orphan_00001_.png`]);
  const object = await h.storage.get(done.outputs[0]!.objectKey);
  const file = readFileSync(join(second.dataDir, 'output', 'arrakis', job.id, 'orphan_00001_.png'));
  expect((await buffer(object!.body)).equals(file)).toBe(true);
}

describe.each(['in-process', 'remote'] as const)(
  'outputs of a run that lost its lease (%s agent)',
  (kind) => {
    it('a refused completion deletes the files of the lost attempt, and the re-run keeps its own', async () => {
      const first = await h.startComfy();
      const held = heldComfy(first.url);
      await h.startAgent(first.url, { comfy: held.comfy, ...(await firstChannel(kind)) });
      const job = await h.admit(invertWorkflow('orphan'));
      const lost = `jobs/${job.id}/outputs/1.0-orphan_00001_.png`;
      await held.reached;
      await until('the early store', () => stored(lost));
      // The lease expires (the store verb alone: no sweep deletes anything), and another worker re-runs the job.
      expect(await h.store.expireLeases(3, Date.now() + 120_000)).toEqual([
        { jobId: job.id, outcome: 'requeued' },
      ]);
      const second = await h.startComfy();
      await h.startAgent(second.url);
      await h.bus.publish({ kind: 'job_ready', pool: null });
      await h.waitFor(job.id, (j) => j.status === 'completed');
      // The first run now reports its completion, naming its stored file: refused, and the file is deleted.
      held.release();
      await until('the lost file deleted', async () => !(await stored(lost)));
      await expectRerunServed(job, second);
    });

    it('a file whose upload was under way when the lease expired is deleted once it lands', async () => {
      const first = await h.startComfy();
      const job = await h.admit(invertWorkflow('orphan'));
      const lost = `jobs/${job.id}/outputs/1.0-orphan_00001_.png`;
      // The first run's upload stalls before its bytes are written, until the test lets it go on.
      const put = h.storage.put.bind(h.storage);
      let reached!: () => void;
      let go!: () => void;
      let landed!: () => void;
      const uploading = new Promise<void>((resolve) => (reached = resolve));
      const gate = new Promise<void>((resolve) => (go = resolve));
      const written = new Promise<void>((resolve) => (landed = resolve));
      releaseAll.push(go);
      vi.spyOn(h.storage, 'put').mockImplementation(async (key, body, contentType) => {
        if (key !== lost) return await put(key, body, contentType);
        reached();
        await gate;
        const object = await put(key, body, contentType);
        landed();
        return object;
      });
      await h.startAgent(first.url, await firstChannel(kind));
      await uploading;
      // The lease sweep requeues the job meanwhile (it deletes the attempt's files: none have landed yet).
      expect(await sweepFromTheFuture().expireLeases()).toBe(1);
      const second = await h.startComfy();
      await h.startAgent(second.url);
      await h.bus.publish({ kind: 'job_ready', pool: null });
      await h.waitFor(job.id, (j) => j.status === 'completed');
      go();
      await written;
      await until('the late file deleted', async () => !(await stored(lost)));
      await expectRerunServed(job, second);
    });

    it('the lease sweep that requeues a job deletes the files its lost run stored', async () => {
      const first = await h.startComfy();
      const held = heldComfy(first.url);
      await h.startAgent(first.url, { comfy: held.comfy, ...(await firstChannel(kind)) });
      const job = await h.admit(invertWorkflow('orphan'));
      const lost = `jobs/${job.id}/outputs/1.0-orphan_00001_.png`;
      await held.reached;
      await until('the early store', () => stored(lost));
      expect(await sweepFromTheFuture().expireLeases()).toBe(1);
      expect(await stored(lost)).toBe(false);
      const second = await h.startComfy();
      await h.startAgent(second.url);
      await h.bus.publish({ kind: 'job_ready', pool: null });
      await expectRerunServed(job, second);
    });
  },
);
