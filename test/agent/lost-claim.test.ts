/**
 * A remote agent whose claim answer is lost on its way back (the control plane leased the job and wrote the
 * answer; the connection broke before the agent read it): its next claim lists the lost claim's id
 * (`lost_claims`), and the control plane gives the job back at once (the attempt counted), instead of leaving it
 * `running` under a worker that never heard of it until its lease expires (30 s here, and no sweep runs: the
 * job would never move). Between the agent and the worker API sits a proxy on 127.0.0.1 that reads the first
 * answer carrying a job whole and then drops the agent's connection. Claims that name no claim (an agent of the
 * previous release: `lost_claim` alone) keep that release's time-bound rule.
 */
import { once } from 'node:events';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buffer } from 'node:stream/consumers';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import {
  LOST_CLAIM_LISTED_MS,
  RemoteJobChannel,
  UNNAMED_CLAIMS_MS,
} from '../../src/agent/remote-job-channel.js';
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
/** The ids of the claims whose answers the proxy dropped. */
let droppedIds: unknown[];
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
        droppedIds.push((JSON.parse(body.toString()) as { claim_id?: unknown }).claim_id);
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
  droppedIds = [];
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

/** A worker registered over the worker API by hand, and its claims as raw requests (`wait_ms` 0 unless given). */
async function registerByHand(): Promise<{
  workerId: string;
  claim: (body: object, signal?: AbortSignal) => Promise<Response>;
}> {
  const { token } = await issueWorkerToken(h.store, 'gpu-1', 'default');
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const registered = await fetch(`${serverUrl}/v1/worker/register`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ name: 'w' }),
  });
  const workerId = registerReply.parse(await registered.json()).worker_id;
  const claim = (body: object, signal?: AbortSignal): Promise<Response> =>
    fetch(`${serverUrl}/v1/worker/claim`, {
      method: 'POST',
      headers: { ...headers, [WORKER_ID_HEADER]: workerId },
      body: JSON.stringify({ wait_ms: 0, ...body }),
      ...(signal && { signal }),
    });
  return { workerId, claim };
}

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
  // Every claim was named, each differently; the claims after the lost one list it (a proxy might still deliver
  // it), the ones before list nothing.
  const bodies = claims as Array<{ claim_id?: string; lost_claims?: string[]; lost_claim?: boolean }>;
  expect(bodies.every((c) => typeof c.claim_id === 'string')).toBe(true);
  expect(new Set(bodies.map((c) => c.claim_id)).size).toBe(bodies.length);
  const lostAt = bodies.findIndex((c) => c.claim_id === droppedIds[0]);
  expect(lostAt).toBeGreaterThanOrEqual(0);
  expect(bodies.map((c) => c.lost_claims)).toEqual(
    bodies.map((_, i) => (i > lostAt ? droppedIds : undefined)),
  );
  expect(bodies.some((c) => c.lost_claim === true)).toBe(false);
});

it('a claim listing its lost claims gives their jobs back however late it is handled', async () => {
  const { token } = await issueWorkerToken(h.store, 'gpu-1', 'default');
  const lite = await h.startComfy();
  const channel = new RemoteJobChannel({ serverUrl: await startDroppingProxy(serverUrl), token });
  const agent = await h.startAgent(lite.url, { channel, claimBackoffMs: { minMs: 20, maxMs: 40 } });
  // Every claim now reaches its handler 800 ms after it arrived, past the 500 ms a `lost_claim` flag is
  // honoured within: the named lease goes back all the same.
  claimDelayMs = 800;
  const job = await h.admit(delayWorkflow(0));
  const done = await h.waitForEnd(job.id, 10_000);
  expect(dropped).toBe(1);
  expect(done).toMatchObject({ status: 'completed', workerId: agent.workerId, attempts: 2 });
});

it("a listing claim held up past the agent's later claims gives back only the lost claim's lease", async () => {
  const { workerId, claim: rawClaim } = await registerByHand();
  const claim = async (body: object): Promise<unknown> => {
    const answer = await rawClaim(body);
    expect(answer.status).toBe(200);
    return await answer.json();
  };
  const job = await h.admit(delayWorkflow(0));
  // The first claim leases the job; its answer is lost (the agent never reads it).
  await claim({ claim_id: 'clm_lost_0001' });
  // The next claim lists it: the job goes back, and (the queue's only job) this claim leases it again.
  expect(await claim({ claim_id: 'clm_next_0002', lost_claims: ['clm_lost_0001'] })).toMatchObject({
    job: { id: job.id, attempt: 2 },
  });
  // A copy of the listing claim that a proxy held up past the agent's timeout and delivers only now, long after
  // the later claim: the agent runs the job under that later claim, and its lease stays. (A flag naming no
  // claim sends back every lease that began before it arrived: this one.)
  expect(await claim({ claim_id: 'clm_copy_0003', lost_claims: ['clm_lost_0001'] })).toEqual({ job: null });
  expect(await h.store.getJob(job.id)).toMatchObject({ status: 'running', workerId, attempts: 2 });
  // Listing the later claim instead gives that lease back.
  await claim({ claim_id: 'clm_last_0004', lost_claims: ['clm_next_0002'] });
  expect(await h.store.getJob(job.id)).toMatchObject({ attempts: 3 });
});

it('refuses a malformed claim id or list with 400 validation_failed', async () => {
  const { claim: rawClaim } = await registerByHand();
  for (const body of [
    { claim_id: 'short' },
    { claim_id: 'has space in it' },
    { claim_id: 'x'.repeat(65) },
    { lost_claims: 'clm_not_a_list' },
    { lost_claims: Array.from({ length: 17 }, (_, i) => `clm_lost_${String(i).padStart(4, '0')}`) },
  ]) {
    const answer = await rawClaim(body);
    expect(answer.status).toBe(400);
    expect(await answer.json()).toMatchObject({ code: 'validation_failed' });
  }
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
  const { workerId, claim: rawClaim } = await registerByHand();
  const job = await h.admit(delayWorkflow(0));
  expect((await h.store.claimNext(workerId, 'default', 60_000, Date.now() - 10))?.id).toBe(job.id);
  const claim = (signal?: AbortSignal): Promise<Response> => rawClaim({ lost_claim: true }, signal);
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

/** A worker API played by hand: each claim gets the next answer of the script (none left: the connection drops). */
async function scriptedApi(
  script: Array<[number, unknown]>,
): Promise<{ channel: RemoteJobChannel; seen: ClaimSent[]; close: () => Promise<void> }> {
  const seen: ClaimSent[] = [];
  const server = createServer((req, res) => {
    void buffer(req).then((body) => {
      seen.push(JSON.parse(body.toString()) as ClaimSent);
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
  return {
    channel,
    seen,
    close: async () => {
      await channel.close();
      server.closeAllConnections();
      server.close();
    },
  };
}

interface ClaimSent {
  wait_ms: number;
  claim_id?: string;
  lost_claims?: string[];
  lost_claim?: boolean;
}

it("lists a claim as lost after a dropped connection, a server error or a proxy's 4xx; not after the API's own 4xx", async () => {
  const script: Array<[number, unknown]> = [
    [503, { code: 'not_ready', detail: 'database unavailable' }],
    [200, { job: null }],
    [408, null],
    [409, { code: 'conflict', detail: 'refused by the API itself' }],
    [200, { job: null }],
    [200, { job: null }],
  ];
  const api = await scriptedApi(script);
  const { channel, seen } = api;
  try {
    await expect(channel.claim(0)).rejects.toThrow(/503/);
    expect(await channel.claim(0)).toBeNull();
    await expect(channel.claim(0)).rejects.toThrow(/408/);
    await expect(channel.claim(0)).rejects.toThrow(/409 conflict/);
    expect(await channel.claim(0)).toBeNull();
    expect(await channel.claim(0)).toBeNull();
    // Then the connection drops mid-claim: the claim after it lists that one.
    await expect(channel.claim(0)).rejects.toThrow();
    script.push([200, { job: null }]);
    expect(await channel.claim(0)).toBeNull();
    const id = (i: number): string | undefined => seen[i]?.claim_id;
    expect(seen.map((b) => b.lost_claims)).toEqual([
      undefined, // first claim
      [id(0)], // after the 503; answered, but the lost one stays listed
      [id(0)],
      [id(0), id(2)], // after a proxy's 408 without the API's problem body
      [id(0), id(2)], // the API refused the 4th itself: it leased nothing, and is not listed
      [id(0), id(2)],
      [id(0), id(2)], // dropped
      [id(0), id(2), id(6)],
    ]);
    expect(new Set(seen.map((b) => b.claim_id)).size).toBe(seen.length);
    expect(seen.every((b) => b.lost_claim === undefined)).toBe(true);
  } finally {
    await api.close();
  }
});

it('claims as the previous release did once a control plane refuses claim ids, keeping what was lost', async () => {
  const script: Array<[number, unknown]> = [
    [503, { code: 'not_ready', detail: 'database unavailable' }],
    [400, { code: 'validation_failed', detail: 'unknown field claim_id' }],
    [200, { job: null }],
    [200, { job: null }],
    [408, null],
    // A control plane older still refuses the flag too: that clears it.
    [400, { code: 'validation_failed', detail: 'unknown field lost_claim' }],
    [200, { job: null }],
  ];
  const api = await scriptedApi(script);
  const { channel, seen } = api;
  vi.useFakeTimers({ toFake: ['Date'] });
  try {
    await expect(channel.claim(0)).rejects.toThrow(/503/);
    await expect(channel.claim(0)).rejects.toThrow(/400 validation_failed/);
    expect(await channel.claim(0)).toBeNull();
    expect(await channel.claim(0)).toBeNull();
    await expect(channel.claim(0)).rejects.toThrow(/408/);
    await expect(channel.claim(0)).rejects.toThrow(/400 validation_failed/);
    expect(await channel.claim(0)).toBeNull();
    expect(
      seen.map((b) => [b.claim_id !== undefined, b.lost_claims?.length ?? 0, b.lost_claim === true]),
    ).toEqual([
      [true, 0, false],
      [true, 1, false], // lists the claim the 503 ended: refused
      [false, 0, true], // the previous release's flag, for that lost claim
      [false, 0, false],
      [false, 0, false], // the 408
      [false, 0, true], // refused by an older control plane: the flag is cleared
      [false, 0, false],
    ]);
    // An unnamed claim lost (the connection drops); ten minutes on, it names its claims again (a rolling upgrade
    // may have finished). The claim lost before the refusal is no longer listed; the unnamed one's flag is sent.
    await expect(channel.claim(0)).rejects.toThrow();
    vi.setSystemTime(Date.now() + UNNAMED_CLAIMS_MS);
    script.push([200, { job: null }], [200, { job: null }]);
    expect(await channel.claim(0)).toBeNull();
    const named = { wait_ms: 0, claim_id: expect.stringMatching(/^clm_/) };
    expect(seen.at(-1)).toEqual({ ...named, lost_claim: true });
    expect(await channel.claim(0)).toBeNull();
    expect(seen.at(-1)).toEqual(named);
  } finally {
    vi.useRealTimers();
    await api.close();
  }
});

it('lists the latest 16 lost claims, each for five minutes', async () => {
  const script: Array<[number, unknown]> = [];
  const api = await scriptedApi(script);
  const { channel, seen } = api;
  vi.useFakeTimers({ toFake: ['Date'] });
  try {
    // 18 claims lost in a row (each connection drops), then answered ones.
    for (let i = 0; i < 18; i++) await expect(channel.claim(0)).rejects.toThrow();
    script.push([200, { job: null }], [200, { job: null }]);
    expect(await channel.claim(0)).toBeNull();
    expect(seen[18]?.lost_claims).toEqual(seen.slice(2, 18).map((b) => b.claim_id));
    vi.setSystemTime(Date.now() + LOST_CLAIM_LISTED_MS);
    expect(await channel.claim(0)).toBeNull();
    expect(seen[19]?.lost_claims).toBeUndefined();
  } finally {
    vi.useRealTimers();
    await api.close();
  }
});
