/**
 * An agent process that dies mid-job (a crash, `kill -9`, an OOM kill) gives nothing back: its prompt keeps
 * running on ComfyUI and its job stays leased to the dead worker until the lease expires (and no sweep runs
 * here: the job would never move). The agent started in its place finds the prompt in ComfyUI's queue before its
 * first claim, has the control plane give the job back (the same worker slot: kind, pool, name, ComfyUI URL,
 * whose lease went unrenewed for a third of the lease and a little more), stops the prompt, and runs the job
 * again. The dead process is staged by hand: a worker registered and
 * its claim taken through the WorkerService, and a 30 s prompt submitted to comfy-lite under the job's prompt
 * id, as that agent would have submitted it.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { jobPromptId, parseJobPromptId } from '../../src/agent/prompt-ids.js';
import { LocalJobChannel } from '../../src/agent/local-job-channel.js';
import { RemoteJobChannel } from '../../src/agent/remote-job-channel.js';
import { issueWorkerToken } from '../../src/api/routes/workers.js';
import type { ComfyLiteServer } from '../../src/comfy-lite/server.js';
import type { Job } from '../../src/jobs/types.js';
import type { LeftoverAnswer } from '../../src/workers/job-channel.js';
import { WORKER_ID_HEADER } from '../../src/workers/worker-protocol.js';
import { LEFTOVER_PROMPT, leftoverSilenceMs } from '../../src/workers/worker-service.js';
import { Harness, delayWorkflow, invertWorkflow } from './harness.js';

let h: Harness;

beforeEach(async () => {
  // No lease sweep runs here: a lease that is never given back keeps its job `running` for good.
  h = await Harness.create({ leaseMs: 3_000 });
});

afterEach(async () => {
  await h.close();
});

const queueAnswer = z.object({
  queue_running: z.array(z.tuple([z.number(), z.string()]).rest(z.unknown())),
  queue_pending: z.array(z.tuple([z.number(), z.string()]).rest(z.unknown())),
});

/** The prompt ids in comfy-lite's queue: running, then pending. */
async function queued(lite: ComfyLiteServer): Promise<{ running: string[]; pending: string[] }> {
  const answer = queueAnswer.parse(await (await fetch(`${lite.url}/queue`)).json());
  return {
    running: answer.queue_running.map((item) => item[1]),
    pending: answer.queue_pending.map((item) => item[1]),
  };
}

/** Submits a `seconds`-long prompt under `promptId`, as another client would. */
async function submit(lite: ComfyLiteServer, promptId: string, seconds = 30): Promise<void> {
  const res = await fetch(`${lite.url}/prompt`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: delayWorkflow(seconds), prompt_id: promptId, client_id: 'gone' }),
  });
  expect(res.status).toBe(200);
}

/**
 * A job claimed by worker `workerId` (registered as `name` of `kind` on `lite`), whose agent died while its
 * prompt ran: the prompt of its attempt runs on comfy-lite, and nothing renews or gives back the lease.
 */
async function stranded(
  lite: ComfyLiteServer,
  workerId: string,
  name: string,
  kind: 'remote' | 'inprocess' = 'remote',
): Promise<Job> {
  await h.service.register({
    id: workerId,
    name,
    pool: 'default',
    kind,
    comfyUrl: lite.url,
    status: 'busy',
    providerRef: null,
  });
  const job = await h.admit(invertWorkflow());
  const claim = await h.service.claim(workerId, 'default', 0);
  expect(claim?.job.id).toBe(job.id);
  await submit(lite, jobPromptId(job.id, 1));
  await expect.poll(async () => (await queued(lite)).running, { timeout: 5_000 }).toEqual([job.id]);
  return job;
}

/** The job still runs its first attempt under `workerId`: nothing gave it back. */
async function expectStillHeld(jobId: string, workerId: string): Promise<void> {
  expect(await h.store.getJob(jobId)).toMatchObject({ status: 'running', workerId, attempts: 1 });
}

async function statusReasons(jobId: string): Promise<string> {
  const events = await h.store.listJobEvents(jobId, 0);
  return JSON.stringify(events.filter((e) => e.type === 'status').map((e) => e.data));
}

it("gives back and reruns a job whose dead in-process agent's prompt still runs on the same ComfyUI", async () => {
  const lite = await h.startComfy();
  const job = await stranded(lite, 'wrk_dead', 'comfyui-1@host-a', 'inprocess');
  const agent = await h.startAgent(lite.url, {
    identity: { name: 'comfyui-1@host-a', pool: 'default', comfyUrl: lite.url },
  });

  // Once the dead worker's lease went unrenewed for two seconds. Without the give-back it stays running.
  const done = await h.waitForEnd(job.id, 8_000);
  expect(done).toMatchObject({ status: 'completed', workerId: agent.workerId, attempts: 2 });
  expect(await statusReasons(job.id)).toContain(LEFTOVER_PROMPT);
  // The leftover prompt was stopped, not left to run its 30 s ahead of the rerun.
  const history = z
    .record(
      z.string(),
      z.object({ status: z.object({ messages: z.array(z.tuple([z.string(), z.unknown()])) }) }),
    )
    .parse(await (await fetch(`${lite.url}/history/${job.id}`)).json());
  expect(history[job.id]?.status.messages.map(([event]) => event)).toContain('execution_interrupted');
  expect(await queued(lite)).toEqual({ running: [], pending: [] });
});

it('does the same over the worker API for a restarted remote agent, and stops a pending leftover too', async () => {
  const { url } = await h.startWorkerApi({ leaseMs: 3_000 });
  const { token } = await issueWorkerToken(h.store, 'gpu-1', 'default');
  const lite = await h.startComfy();
  const job = await stranded(lite, 'wrk_dead', 'gpu-1');
  // Waiting behind it, a prompt of another job's attempt that is over (the job is queued in its first): were it
  // not taken off the queue before the running one is interrupted, ComfyUI would start it next.
  const other = await h.admit(invertWorkflow());
  await submit(lite, jobPromptId(other.id, 2));
  expect((await queued(lite)).pending).toEqual([jobPromptId(other.id, 2)]);

  const channel = new RemoteJobChannel({ serverUrl: url, token });
  const agent = await h.startAgent(lite.url, {
    channel,
    identity: { name: 'gpu-1', pool: null, comfyUrl: lite.url },
  });

  const done = await h.waitForEnd(job.id, 8_000);
  expect(done).toMatchObject({ status: 'completed', workerId: agent.workerId, attempts: 2 });
  expect(await statusReasons(job.id)).toContain(LEFTOVER_PROMPT);
  // The other job's leftover (attempt 2, while the job is queued in its first) was stale: stopped, and the
  // job itself untouched, then run by the agent.
  expect(await h.waitForEnd(other.id, 8_000)).toMatchObject({ status: 'completed', attempts: 1 });
  expect(await queued(lite)).toEqual({ running: [], pending: [] });
});

it('leaves alone a prompt another agent on the same ComfyUI runs, and prompts Arrakis did not submit for a job', async () => {
  const lite = await h.startComfy();
  // Another slot (another replica's agent, by its name) runs this job on the same ComfyUI.
  const job = await stranded(lite, 'wrk_other', 'comfyui-1@host-b', 'inprocess');
  const foreign = randomUUID();
  await submit(lite, foreign);
  const agent = await h.startAgent(lite.url, {
    identity: { name: 'comfyui-1@host-a', pool: 'default', comfyUrl: lite.url },
  });
  await expect.poll(() => agent.status, { timeout: 5_000 }).toBe('idle');

  expect(await queued(lite)).toEqual({ running: [job.id], pending: [foreign] });
  await expectStillHeld(job.id, 'wrk_other');
});

it('answers each case of the control plane side', async () => {
  const lite = await h.startComfy();
  const job = await stranded(lite, 'wrk_dead', 'gpu-1');
  const register = (
    id: string,
    name: string,
    pool = 'default',
    comfyUrl = lite.url,
    kind: 'remote' | 'inprocess' = 'remote',
  ): Promise<void> =>
    h.service.register({ id, name, pool, kind, comfyUrl, status: 'idle', providerRef: null });
  await register('wrk_new', 'gpu-1');
  await register('wrk_named', 'gpu-2');
  await register('wrk_pool', 'gpu-1', 'other');
  await register('wrk_url', 'gpu-1', 'default', 'http://127.0.0.1:1');
  await register('wrk_kind', 'gpu-1', 'default', lite.url, 'inprocess');
  const ask = (caller: string, jobId = job.id, attempt = 1): ReturnType<typeof h.service.releaseLeftover> =>
    h.service.releaseLeftover(caller, jobId, attempt);

  // Another name, pool, ComfyUI URL or kind: not the same slot.
  for (const caller of ['wrk_named', 'wrk_pool', 'wrk_url', 'wrk_kind']) {
    expect(await ask(caller)).toEqual({ outcome: 'held' });
  }
  // Another attempt, or no such job: stale.
  expect(await ask('wrk_new', job.id, 2)).toEqual({ outcome: 'stale' });
  expect(await ask('wrk_new', 'job_00000000000000000000000000')).toEqual({ outcome: 'stale' });

  // The same slot, its lease renewed within the last 3 s (two renewals of a 3 s lease, one every second, and up
  // to a second more for the call; leftoverSilenceMs): it may be alive. Renewed again, the wait starts over.
  const first = await ask('wrk_new');
  expect(first).toMatchObject({ outcome: 'recent' });
  const wait = first.outcome === 'recent' ? first.retryAfterMs : -1;
  expect(wait).toBeGreaterThan(1_000);
  expect(wait).toBeLessThanOrEqual(leftoverSilenceMs(3_000));
  await new Promise((r) => setTimeout(r, 1_000));
  expect(await h.service.heartbeat(job.id, 'wrk_dead')).toBe('held');
  const renewed = await ask('wrk_new');
  expect(renewed.outcome === 'recent' && renewed.retryAfterMs).toBeGreaterThan(wait - 500);
  expect(await h.store.getJob(job.id)).toMatchObject({ status: 'running', workerId: 'wrk_dead' });

  // Unrenewed that long: given back, once.
  await new Promise((r) => setTimeout(r, leftoverSilenceMs(3_000) + 50));
  expect(await ask('wrk_new')).toEqual({ outcome: 'released' });
  expect(await h.store.getJob(job.id)).toMatchObject({ status: 'queued', workerId: null, attempts: 1 });
  expect(await ask('wrk_new')).toEqual({ outcome: 'stale' });

  // The caller's own lease (its run ended while ComfyUI was unreachable, its release lost): the same silence
  // first (a second process may act for one worker id), then given back.
  expect((await h.service.claim('wrk_new', 'default', 0))?.job.id).toBe(job.id);
  expect(await ask('wrk_new', job.id, 2)).toMatchObject({ outcome: 'recent' });
  await new Promise((r) => setTimeout(r, leftoverSilenceMs(3_000) + 50));
  expect(await ask('wrk_new', job.id, 2)).toEqual({ outcome: 'released' });
});

it('answers recent, not released, for a lease renewed between its read and the give-back', async () => {
  const lite = await h.startComfy();
  const job = await stranded(lite, 'wrk_dead', 'gpu-1');
  await h.service.register({
    ...{ id: 'wrk_new', name: 'gpu-1', pool: 'default', kind: 'remote', comfyUrl: lite.url },
    ...{ status: 'idle', providerRef: null },
  });
  await new Promise((r) => setTimeout(r, leftoverSilenceMs(3_000) + 50));
  // The holder's heartbeat lands right after the lease was read as silent.
  const release = h.store.releaseJob.bind(h.store);
  vi.spyOn(h.store, 'releaseJob').mockImplementation(async (...args) => {
    expect(await h.service.heartbeat(job.id, 'wrk_dead')).toBe('held');
    return await release(...args);
  });
  expect(await h.service.releaseLeftover('wrk_new', job.id, 1)).toEqual({
    outcome: 'recent',
    retryAfterMs: 0,
  });
  await expectStillHeld(job.id, 'wrk_dead');
});

it('leaves alone, after asking twice, the prompt of a live agent of the same slot (same host and name)', async () => {
  const lite = await h.startComfy();
  const job = await stranded(lite, 'wrk_live', 'comfyui-1@host-a', 'inprocess');
  // The first agent is alive, if late: it renews its 3 s lease every 2 s (one renewal of two missed each time).
  const beat = setInterval(() => void h.service.heartbeat(job.id, 'wrk_live'), 2_000);
  h.onClose(async () => clearInterval(beat));
  const agent = await h.startAgent(lite.url, {
    identity: { name: 'comfyui-1@host-a', pool: 'default', comfyUrl: lite.url },
  });
  // It claims only once it has settled the prompt: asked, waited, asked again.
  await expect.poll(() => agent.status, { timeout: 8_000 }).toBe('idle');

  expect((await queued(lite)).running).toEqual([job.id]);
  await expectStillHeld(job.id, 'wrk_live');
});

it('stops at once while it waits to ask about a prompt again, leaving the prompt', async () => {
  const lite = await h.startComfy();
  const job = await stranded(lite, 'wrk_dead', 'comfyui-1@host-a', 'inprocess');
  const agent = await h.startAgent(lite.url, {
    identity: { name: 'comfyui-1@host-a', pool: 'default', comfyUrl: lite.url },
  });
  const started = Date.now();
  await agent.stop();
  // The wait (up to 3 s) ends with the stop.
  expect(Date.now() - started).toBeLessThan(1_500);
  expect((await queued(lite)).running).toEqual([job.id]);
  await expectStillHeld(job.id, 'wrk_dead');
});

it('asks again before a later claim when the question failed (the control plane away)', async () => {
  const lite = await h.startComfy();
  const job = await stranded(lite, 'wrk_dead', 'comfyui-1@host-a', 'inprocess');
  let failures = 1;
  class AwayOnce extends LocalJobChannel {
    override async releaseLeftover(jobId: string, attempt: number): Promise<LeftoverAnswer> {
      if (failures > 0) {
        failures -= 1;
        throw new Error('control plane away');
      }
      return await super.releaseLeftover(jobId, attempt);
    }
  }
  const agent = await h.startAgent(lite.url, {
    channel: new AwayOnce({ service: h.service, bus: h.bus }),
    identity: { name: 'comfyui-1@host-a', pool: 'default', comfyUrl: lite.url },
    claimWaitMs: 300,
    leftoverRetryMs: 200,
  });
  // Without the second pass the job stays with the dead worker (and the prompt runs on ahead of every claim).
  const done = await h.waitForEnd(job.id, 8_000);
  expect(failures).toBe(0);
  expect(done).toMatchObject({ status: 'completed', workerId: agent.workerId, attempts: 2 });
});

it("stops a released job's prompt even when a later question of the pass fails", async () => {
  const lite = await h.startComfy();
  const job = await stranded(lite, 'wrk_dead', 'comfyui-1@host-a', 'inprocess');
  // Waiting behind it, a prompt of another job's later attempt, whose question fails.
  const other = await h.admit(invertWorkflow());
  await submit(lite, jobPromptId(other.id, 2));
  await new Promise((r) => setTimeout(r, leftoverSilenceMs(3_000) + 50));
  class FailsForOther extends LocalJobChannel {
    override async releaseLeftover(jobId: string, attempt: number): Promise<LeftoverAnswer> {
      if (jobId === other.id) throw new Error('control plane away');
      return await super.releaseLeftover(jobId, attempt);
    }
  }
  await h.startAgent(lite.url, {
    channel: new FailsForOther({ service: h.service, bus: h.bus }),
    identity: { name: 'comfyui-1@host-a', pool: 'default', comfyUrl: lite.url },
  });
  // The dead run's prompt was interrupted, not left to run its 30 s while the job runs again behind it.
  await expect
    .poll(async () => JSON.stringify(await (await fetch(`${lite.url}/history/${job.id}`)).json()), {
      timeout: 5_000,
    })
    .toContain('execution_interrupted');
  expect(await statusReasons(job.id)).toContain(LEFTOVER_PROMPT);
});

it('asks again at a later pass when the lease has not fallen silent by the second question', async () => {
  const lite = await h.startComfy();
  const job = await stranded(lite, 'wrk_dead', 'comfyui-1@host-a', 'inprocess');
  // A scripted control plane: silent at a fixed time, 600 ms on (never renewed); the second pass finds it so.
  const silentAt = Date.now() + 600;
  const asked: string[] = [];
  class Scripted extends LocalJobChannel {
    override async releaseLeftover(): Promise<LeftoverAnswer> {
      const left = silentAt - Date.now();
      asked.push(left > 0 ? 'recent' : 'stale');
      return left > 0 ? { outcome: 'recent', retryAfterMs: Math.max(0, left - 400) } : { outcome: 'stale' };
    }
  }
  await h.startAgent(lite.url, {
    channel: new Scripted({ service: h.service, bus: h.bus }),
    identity: { name: 'comfyui-1@host-a', pool: 'default', comfyUrl: lite.url },
    claimWaitMs: 300,
  });
  // Each answer names 400 ms less than the truth: asked, waited, asked again, not renewed (the same silence), so
  // asked at later passes until it has fallen silent; then stopped.
  await expect.poll(async () => (await queued(lite)).running, { timeout: 5_000 }).toEqual([]);
  expect(asked.at(-1)).toBe('stale');
  expect(asked.slice(0, -1).every((a) => a === 'recent')).toBe(true);
  expect(asked.length).toBeGreaterThanOrEqual(3);
  await expectStillHeld(job.id, 'wrk_dead');
});

it('reads only job prompt ids as jobs and attempts', () => {
  const id = 'job_01m8vb4q8bwdh4c397ehw74ns4';
  expect(parseJobPromptId(jobPromptId(id, 1))).toEqual({ jobId: id, attempt: 1 });
  expect(parseJobPromptId(jobPromptId(id, 7))).toEqual({ jobId: id, attempt: 7 });
  // Never submitted (the first attempt's id is the job id), not a job's, or not an id Arrakis makes.
  for (const other of [
    `${id}-1`,
    `${id}-0`,
    `${id}-01`,
    randomUUID(),
    'job_short',
    `${id.toUpperCase()}`,
    `${id}x`,
  ]) {
    expect(parseJobPromptId(other)).toBeNull();
  }
});

it('refuses a malformed leftover report with a stable code', async () => {
  const { url } = await h.startWorkerApi();
  const { token } = await issueWorkerToken(h.store, 'gpu-1', 'default');
  const lite = await h.startComfy();
  const channel = new RemoteJobChannel({ serverUrl: url, token });
  const workerId = await channel.register({ name: 'gpu-1', pool: null, comfyUrl: lite.url });
  h.onClose(() => channel.close());
  const headers = {
    authorization: `Bearer ${token}`,
    [WORKER_ID_HEADER]: workerId,
    'content-type': 'application/json',
  };
  for (const body of [{}, { attempt: 0 }, { attempt: 1.5 }, { attempt: '1' }, { attempt: 1, extra: true }]) {
    const res = await fetch(`${url}/v1/worker/jobs/job_01m8vb4q8bwdh4c397ehw74ns4/leftover`, {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 'validation_failed' });
  }
  expect(await channel.releaseLeftover('job_01m8vb4q8bwdh4c397ehw74ns4', 1)).toEqual({ outcome: 'stale' });
});
