import { EventEmitter, once } from 'node:events';
import { buffer } from 'node:stream/consumers';
import type { FastifyInstance } from 'fastify';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RemoteJobChannel } from '../../src/agent/remote-job-channel.js';
import { WORKER_ID_HEADER, registerReply } from '../../src/workers/worker-protocol.js';
import { issueWorkerToken } from '../../src/api/routes/workers.js';
import type { Workflow } from '../../src/jobs/types.js';
import { Harness, delayWorkflow } from './harness.js';

let h: Harness;
let app: FastifyInstance;
let serverUrl: string;
/** Emits each request's path as it reaches the server (to know a long-poll is in flight). */
let arrivals: EventEmitter;

beforeEach(async () => {
  h = await Harness.create();
  arrivals = new EventEmitter();
  // Heartbeats 10 s apart: a cancel that arrives sooner came through the cancel long-poll.
  ({ app, url: serverUrl } = await h.startWorkerApi({ onRequest: (url) => arrivals.emit('request', url) }));
});

afterEach(async () => {
  await h.close();
});

async function post(path: string, token: string, body: unknown, workerId?: string): Promise<Response> {
  const headers: Record<string, string> = {
    authorization: `Bearer ${token}`,
    'content-type': 'application/json',
  };
  if (workerId !== undefined) headers[WORKER_ID_HEADER] = workerId;
  return await fetch(`${serverUrl}/v1/worker${path}`, {
    method: 'POST',
    headers,
    body: JSON.stringify(body),
  });
}

async function register(token: string): Promise<string> {
  return registerReply.parse(await (await post('/register', token, { name: 'w' })).json()).worker_id;
}

describe('remote agent over the worker API', () => {
  it('runs a LoadImage job end to end: input download, output upload, completion', async () => {
    const { token } = await issueWorkerToken(h.store, 'gpu-1', 'default');
    const lite = await h.startComfy();
    const agent = await h.startAgent(lite.url, { channel: new RemoteJobChannel({ serverUrl, token }) });
    const png = await sharp({
      create: { width: 4, height: 4, channels: 3, background: { r: 16, g: 16, b: 16 } },
    })
      .png()
      .toBuffer();
    const stored = await h.storage.put('inputs/in_r/pic.png', png, 'image/png');
    const workflow: Workflow = {
      '1': { class_type: 'LoadImage', inputs: { image: 'pic' } },
      '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
      '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'remote' } },
    };
    const job = await h.admit(workflow, [
      { name: 'pic', filename: 'pic.png', objectKey: stored.key, size: png.length },
    ]);
    const done = await h.waitForEnd(job.id);
    expect(done.status).toBe('completed');
    expect(done.workerId).toBe(agent.workerId);
    const out = await h.storage.get(done.outputs[0]?.objectKey ?? '');
    if (out === null) throw new Error('the output is not in storage');
    const { data } = await sharp(await buffer(out.body))
      .raw()
      .toBuffer({ resolveWithObject: true });
    for (const channel of data.subarray(0, 3)) expect([238, 239]).toContain(channel);
    const worker = await h.store.getWorker(agent.workerId ?? '');
    expect(worker).toMatchObject({ kind: 'remote', pool: 'default', name: expect.stringMatching(/^agent-/) });
  });

  // Issue 13 items 2, 5, 6 over the worker API: error details, output types and progress fields cross the wire.
  it("relays ComfyUI's refused inputs, output types and progress fields through the worker API", async () => {
    const { token } = await issueWorkerToken(h.store, 'gpu-1', 'default');
    const lite = await h.startComfy();
    await h.startAgent(lite.url, { channel: new RemoteJobChannel({ serverUrl, token }) });
    const refused = await h.waitForEnd(
      (
        await h.admit({
          '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 0, batch_size: 1, color: 0 } },
          '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'x' } },
        })
      ).id,
    );
    expect(refused.error?.details).toEqual([
      {
        nodeId: '1',
        classType: 'EmptyImage',
        input: 'height',
        message: 'Value 0 smaller than min of 1: height',
      },
    ]);
    const done = await h.waitForEnd(
      (
        await h.admit({
          '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
          '2': { class_type: 'PreviewImage', inputs: { images: ['1', 0] } },
          '3': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'r' } },
        })
      ).id,
    );
    expect(done.outputs.map((o) => o.type)).toEqual(['output', 'temp']);
    expect(done.progress).toMatchObject({ fraction: 1, class_type: null });
  });

  it('reports a failure whose node id is longer than the wire allows (cut to 256), not leaving it to the lease', async () => {
    const { token } = await issueWorkerToken(h.store, 'gpu-1', 'default');
    const lite = await h.startComfy();
    await h.startAgent(lite.url, { channel: new RemoteJobChannel({ serverUrl, token }) });
    const long = 'n'.repeat(300);
    const job = await h.admit({
      '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
      [long]: { class_type: 'ImageBlur', inputs: { image: ['1', 0], blur_radius: 20, sigma: 1 } },
      '3': { class_type: 'SaveImage', inputs: { images: [long, 0], filename_prefix: 'x' } },
    });
    const done = await h.waitForEnd(job.id);
    expect(done.error).toMatchObject({ code: 'execution_error', nodeId: long.slice(0, 256) });
    expect(done.attempts).toBe(1);
  });

  it('pushes a cancel to the remote agent, which interrupts ComfyUI in well under a second', async () => {
    const { token } = await issueWorkerToken(h.store, 'gpu-1', 'default');
    const lite = await h.startComfy();
    await h.startAgent(lite.url, { channel: new RemoteJobChannel({ serverUrl, token }) });
    const job = await h.admit(delayWorkflow(5));
    await h.waitFor(job.id, (j) => j.progress !== null);
    const interrupted = once(lite.events, 'interrupt');
    const start = performance.now();
    await h.cancel(job);
    const [event] = await interrupted;
    const cancelToInterruptMs = performance.now() - start;
    expect(event).toMatchObject({ promptId: job.id });
    expect(cancelToInterruptMs).toBeLessThan(1000);
    const done = await h.waitForEnd(job.id, 3000);
    expect(done.status).toBe('cancelled');
    expect(performance.now() - start).toBeLessThan(1000);
  });

  it('refuses missing, wrong and revoked tokens with 401 problem+json', async () => {
    const { id, token } = await issueWorkerToken(h.store, 'gpu-1', 'default');
    const missing = await fetch(`${serverUrl}/v1/worker/register`, { method: 'POST' });
    expect(missing.status).toBe(401);
    expect(missing.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(await missing.json()).toMatchObject({ code: 'unauthorized', status: 401 });
    const wrongSecret = token.replace(/[0-9a-f]$/, (c) => (c === '0' ? '1' : '0'));
    expect((await post('/register', wrongSecret, { name: 'x' })).status).toBe(401);
    expect((await post('/register', token, { name: 'x' })).status).toBe(201);
    await h.store.revokeWorkerToken(id, Date.now());
    expect((await post('/register', token, { name: 'x' })).status).toBe(401);
  });

  it('lets a worker act only on jobs leased to it, and only as itself', async () => {
    const { token } = await issueWorkerToken(h.store, 'gpu-1', 'default');
    const other = await issueWorkerToken(h.store, 'gpu-2', 'default');
    const [w1, w2] = [await register(token), await register(token)];
    const job = await h.admit(delayWorkflow(1));
    const claim = await post('/claim', token, { wait_ms: 0 }, w1);
    expect(await claim.json()).toMatchObject({ job: { id: job.id, attempt: 1 } });
    expect(await (await post(`/jobs/${job.id}/heartbeat`, token, {}, w2)).json()).toEqual({ lease: 'lost' });
    expect(await (await post(`/jobs/${job.id}/heartbeat`, token, {}, w1)).json()).toEqual({ lease: 'held' });
    const input = await fetch(`${serverUrl}/v1/worker/jobs/${job.id}/inputs/x`, {
      headers: { authorization: `Bearer ${token}`, [WORKER_ID_HEADER]: w2 },
    });
    expect(input.status).toBe(409);
    expect(await (await post(`/jobs/${job.id}/complete`, token, { outputs: [] }, w2)).json()).toEqual({
      kind: 'lost',
    });
    // Another token cannot speak for w1 even with its id.
    expect((await post(`/jobs/${job.id}/heartbeat`, other.token, {}, w1)).status).toBe(401);
    const foreign = {
      index: 0,
      node_id: '3',
      filename: 'a.png',
      content_type: 'image/png',
      size: 1,
      object_key: 'jobs/other/outputs/0-a.png',
    };
    const bad = await post(`/jobs/${job.id}/complete`, token, { outputs: [foreign] }, w1);
    expect(bad.status).toBe(400);
    const upload = (bytes: number, worker: string): Promise<Response> =>
      fetch(`${serverUrl}/v1/worker/jobs/${job.id}/outputs/0?node_id=3&filename=a.png`, {
        method: 'PUT',
        headers: {
          authorization: `Bearer ${token}`,
          [WORKER_ID_HEADER]: worker,
          'content-type': 'image/png',
        },
        body: Buffer.alloc(bytes, 1),
      });
    expect((await upload(100, w2)).status).toBe(409);
    const tooBig = await upload(65 * 1024, w1);
    expect(tooBig.status).toBe(413);
    expect(await tooBig.json()).toMatchObject({ code: 'payload_too_large' });
    expect(await (await upload(100, w1)).json()).toMatchObject({
      object_key: `jobs/${job.id}/outputs/1.0-a.png`, // this attempt's key, the index as arrival number
      size: 100,
      content_type: 'image/png',
    });
    expect((await h.store.getJob(job.id))?.status).toBe('running');
  });

  it('closes promptly with long-polls open, and a stopping remote agent releases its job', async () => {
    const { token } = await issueWorkerToken(h.store, 'gpu-1', 'default');
    const lite = await h.startComfy();
    const channel = new RemoteJobChannel({ serverUrl, token });
    const agent = await h.startAgent(lite.url, { channel, claimWaitMs: 20_000 });
    const job = await h.admit(delayWorkflow(5));
    await h.waitFor(job.id, (j) => j.progress !== null);
    await agent.stop();
    expect((await h.store.getJob(job.id))?.status).toBe('queued');
    // An idle worker's 20 s claim long-poll must not hold the server's shutdown.
    const idle = await issueWorkerToken(h.store, 'gpu-3', 'default');
    const w = await register(idle.token);
    await h.store.requestCancel(job.accountId, job.userId, job.id, Date.now());
    const arrived = once(arrivals, 'request');
    const pending = post('/claim', idle.token, { wait_ms: 20_000 }, w);
    await arrived;

    const start = Date.now();
    await app.close();
    expect(Date.now() - start).toBeLessThan(2000);
    expect(await (await pending).json()).toEqual({ job: null });
  });
});
