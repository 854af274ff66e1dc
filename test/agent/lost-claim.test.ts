/**
 * A remote agent whose claim answer is lost on its way back (the control plane leased the job and wrote the
 * answer; the connection broke before the agent read it): its next claim says so (`lost_claim`), and the
 * control plane gives the job back at once (the attempt counted), instead of leaving it `running` under a
 * worker that never heard of it until its lease expires (30 s here, and no sweep runs: the job would never
 * move). Between the agent and the worker API sits a proxy on 127.0.0.1 that reads the first answer carrying
 * a job whole and then drops the agent's connection.
 */
import { once } from 'node:events';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buffer } from 'node:stream/consumers';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { RemoteJobChannel } from '../../src/agent/remote-job-channel.js';
import { issueWorkerToken } from '../../src/api/routes/workers.js';
import { UNRECEIVED_CLAIM } from '../../src/workers/worker-service.js';
import { WORKER_ID_HEADER, registerReply } from '../../src/workers/worker-protocol.js';
import { Harness, delayWorkflow } from './harness.js';

let h: Harness;
let serverUrl: string;
let proxy: Server | undefined;
/** The bodies of the claims that went through the proxy, in order. */
let claims: unknown[];
let dropped: number;
/** How many claim answers carrying a job the proxy drops (the first ones). */
let toDrop: number;

/** Forwards to the worker API; drops the agent's connection instead of relaying the first claim that leased. */
async function startDroppingProxy(upstream: string): Promise<string> {
  const target = new URL(upstream);
  const server = createServer((req, res) => {
    void (async () => {
      const body = await buffer(req);
      if (req.url?.endsWith('/claim') === true) claims.push(JSON.parse(body.toString()));
      const up = httpRequest({
        host: target.hostname,
        port: target.port,
        path: req.url,
        method: req.method,
        headers: req.headers,
      });
      up.end(body);
      const [answer] = (await once(up, 'response')) as [IncomingMessage];
      const text = await buffer(answer);
      if (req.url?.endsWith('/claim') === true && dropped < toDrop && text.includes('"job":{')) {
        dropped += 1;
        req.socket.destroy();
        return;
      }
      res.writeHead(answer.statusCode ?? 502, answer.headers).end(text);
    })().catch(() => req.socket.destroy());
  });
  proxy = server;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** How long the worker API holds up each claim once its credentials were checked (0: not at all). */
let claimDelayMs: number;

beforeEach(async () => {
  h = await Harness.create();
  claims = [];
  dropped = 0;
  toDrop = 1;
  claimDelayMs = 0;
  ({ url: serverUrl } = await h.startWorkerApi({
    leaseMs: 30_000,
    lostClaimGraceMs: 500,
    // After the worker's credentials were checked, as a stalled database would hold a claim up there.
    routeFiles: [
      (s) => {
        s.addHook('onRequest', async (request) => {
          if (request.url.endsWith('/claim') && claimDelayMs > 0) {
            await new Promise((r) => setTimeout(r, claimDelayMs));
          }
        });
      },
    ],
  }));
});

afterEach(async () => {
  await h.close();
  proxy?.closeAllConnections();
  proxy?.close();
  proxy = undefined;
});

it('gives back at once a job whose claim answer never reached the agent, which then runs it', async () => {
  const { token } = await issueWorkerToken(h.store, 'gpu-1', 'default');
  const lite = await h.startComfy();
  const channel = new RemoteJobChannel({ serverUrl: await startDroppingProxy(serverUrl), token });
  const agent = await h.startAgent(lite.url, { channel, claimBackoffMs: { minMs: 50, maxMs: 100 } });
  const job = await h.admit(delayWorkflow(0));

  const done = await h.waitForEnd(job.id, 8_000);
  expect(dropped).toBe(1);
  // Two attempts, the lost one counted as its lease's expiry would have counted it.
  expect(done).toMatchObject({ status: 'completed', workerId: agent.workerId, attempts: 2 });
  // The job went back to the queue with the reason, and ran once.
  const events = await h.store.listJobEvents(job.id, 0);
  const statuses = events.filter((e) => e.type === 'status').map((e) => e.data);
  expect(JSON.stringify(statuses)).toContain(UNRECEIVED_CLAIM);
  expect(events.filter((e) => e.type === 'done')).toHaveLength(1);
  // Only the claim after the lost one said so; the ones after it did not.
  const flagged = claims.map((c) => (c as { lost_claim?: boolean }).lost_claim === true);
  const lostAt = flagged.indexOf(true);
  expect(lostAt).toBeGreaterThan(0);
  expect(flagged.filter(Boolean)).toHaveLength(1);
});

it('gives back nothing for a lost_claim claim handled after the grace: the agent may have claimed again since', async () => {
  const { token } = await issueWorkerToken(h.store, 'gpu-1', 'default');
  const lite = await h.startComfy();
  const channel = new RemoteJobChannel({ serverUrl: await startDroppingProxy(serverUrl), token });
  await h.startAgent(lite.url, { channel, claimBackoffMs: { minMs: 20, maxMs: 40 } });
  // Every claim now reaches its handler 800 ms after it arrived, past the 500 ms grace.
  claimDelayMs = 800;
  const job = await h.admit(delayWorkflow(0));
  await expect
    .poll(() => claims.some((c) => (c as { lost_claim?: boolean }).lost_claim === true), {
      timeout: 5_000,
    })
    .toBe(true);
  // Past the flagged claim's handling: the job stays leased (its lease's expiry, 30 s away, gives it back).
  await new Promise((r) => setTimeout(r, 1_800));
  expect(dropped).toBe(1);
  expect(await h.store.getJob(job.id)).toMatchObject({ status: 'running', attempts: 1 });
});

it("gives back only leases that began before the flagged claim arrived: a later claim's lease stays", async () => {
  const job = await h.admit(delayWorkflow(0));
  const before = Date.now();
  await new Promise((r) => setTimeout(r, 5));
  const claim = await h.store.claimNext('wrk_test', 'default', 60_000, Date.now());
  expect(claim?.id).toBe(job.id);
  // A flagged claim that arrived before this lease began, its give-back held up until now: the lease stays.
  expect(await h.service.releaseUnreceived('wrk_test', before)).toBe(0);
  expect(await h.store.getJob(job.id)).toMatchObject({ status: 'running', workerId: 'wrk_test' });
  // One that arrived after it: the lease is the lost claim's, and goes back to the queue.
  expect(await h.service.releaseUnreceived('wrk_test', Date.now() + 1)).toBe(1);
  expect(await h.store.getJob(job.id)).toMatchObject({ status: 'queued', attempts: 1 });
});

it('gives back nothing for a flagged claim whose agent hung up before it was handled', async () => {
  const { token } = await issueWorkerToken(h.store, 'gpu-1', 'default');
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const registered = await fetch(`${serverUrl}/v1/worker/register`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ name: 'w' }),
  });
  const workerId = registerReply.parse(await registered.json()).worker_id;
  const job = await h.admit(delayWorkflow(0));
  expect((await h.store.claimNext(workerId, 'default', 60_000, Date.now() - 10))?.id).toBe(job.id);
  const claim = (signal?: AbortSignal): Promise<Response> =>
    fetch(`${serverUrl}/v1/worker/claim`, {
      method: 'POST',
      headers: { ...headers, [WORKER_ID_HEADER]: workerId },
      body: JSON.stringify({ wait_ms: 0, lost_claim: true }),
      ...(signal && { signal }),
    });
  // Held up 300 ms after its credentials were checked (within the 500 ms grace); the agent hangs up at 100 ms.
  claimDelayMs = 300;
  await expect(claim(AbortSignal.timeout(100))).rejects.toThrow();
  await new Promise((r) => setTimeout(r, 400));
  expect(await h.store.getJob(job.id)).toMatchObject({ status: 'running', workerId });
  // The same claim answered: the lease goes back (and, the queue's only job, is leased again by this claim).
  expect((await claim()).status).toBe(200);
  expect(await h.store.getJob(job.id)).toMatchObject({ status: 'running', attempts: 2 });
});

it('fails a job whose every claim answer is lost once its attempts are spent, not cycling forever', async () => {
  toDrop = Number.POSITIVE_INFINITY;
  const { token } = await issueWorkerToken(h.store, 'gpu-1', 'default');
  const lite = await h.startComfy();
  const channel = new RemoteJobChannel({ serverUrl: await startDroppingProxy(serverUrl), token });
  await h.startAgent(lite.url, { channel, claimBackoffMs: { minMs: 20, maxMs: 40 } });
  const job = await h.admit(delayWorkflow(0));
  const ended = await h.waitForEnd(job.id, 8_000);
  // The worker API's limit is 3 attempts: three claims leased it, three answers were lost.
  expect(ended).toMatchObject({ status: 'failed', attempts: 3, error: { code: 'worker_lost' } });
  expect(dropped).toBe(3);
});

it("says a claim was lost after a dropped connection, a server error or a proxy's 4xx; not after the API's own 4xx", async () => {
  // A worker API played by hand: each claim gets the next answer of the script.
  const script: Array<[number, unknown]> = [
    [503, { code: 'not_ready', detail: 'database unavailable' }],
    [400, { code: 'validation_failed', detail: 'unknown field lost_claim' }],
    [200, { job: null }],
    [408, null],
    [200, { job: null }],
    [200, { job: null }],
  ];
  const seen: unknown[] = [];
  const server = createServer((req, res) => {
    void buffer(req).then((body) => {
      seen.push(JSON.parse(body.toString()));
      const next = script.shift();
      if (next === undefined) {
        req.socket.destroy();
        return;
      }
      const [status, answer] = next;
      res
        .writeHead(status, { 'content-type': 'application/json' })
        .end(answer === null ? '' : JSON.stringify(answer));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const channel = new RemoteJobChannel({
    serverUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    token: 'wkt_test',
  });
  try {
    await expect(channel.claim(0)).rejects.toThrow(/503/);
    await expect(channel.claim(0)).rejects.toThrow(/400 validation_failed/);
    expect(await channel.claim(0)).toBeNull();
    await expect(channel.claim(0)).rejects.toThrow(/408/);
    expect(await channel.claim(0)).toBeNull();
    expect(await channel.claim(0)).toBeNull();
    // Then the connection drops mid-claim: the claim after it says so too.
    await expect(channel.claim(0)).rejects.toThrow();
    script.push([200, { job: null }]);
    expect(await channel.claim(0)).toBeNull();
    expect(seen.map((b) => (b as { lost_claim?: boolean }).lost_claim === true)).toEqual([
      false, // first claim
      true, // after the 503
      false, // the API refused the request itself (an older control plane refusing the field): nothing leased
      false,
      true, // after a proxy's 408 without the API's problem body
      false,
      false, // dropped
      true,
    ]);
  } finally {
    await channel.close();
    server.closeAllConnections();
    server.close();
  }
});
