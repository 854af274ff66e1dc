/**
 * The input fetcher against the real store (a SQLite file), real file storage and loopback HTTP servers
 * that the allowlist permits; the blocked case uses a loopback port that is not on it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, type Job, type JobInput } from '../../src/jobs/types.js';
import { InputFetcher, type InputFetcherOptions } from '../../src/jobs/input-fetcher.js';
import type { BusMessage } from '../../src/events/bus.js';
import { createLocalBus } from '../../src/events/local-bus.js';
import type { ObjectStorage } from '../../src/media/storage/contract.js';
import { FileStorage } from '../../src/media/storage/file-storage.js';
import type { Store } from '../../src/store/contract.js';
import { openStore } from '../../src/store/open.js';
import { makePng } from '../media/fixtures.js';
import { startLoopbackServer, type LoopbackServer } from '../media/loopback-server.js';

let dir: string;
let store: Store;
let storage: FileStorage;
let server: LoopbackServer;
let png: Buffer;
let accountId: string;
const fetchers: InputFetcher[] = [];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'arrakis-fetcher-'));
  store = await openStore(`sqlite:${join(dir, 'arrakis.db')}`);
  await store.migrate();
  storage = new FileStorage(join(dir, 'objects'));
  png = await makePng(8, 8);
  server = await startLoopbackServer((req, res) => {
    if (req.url === '/ok.png') res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(png);
    else if (req.url === '/broken.png') res.end(png.subarray(0, 40));
    else if (req.url === '/stall') res.writeHead(200).write(png.subarray(0, 16));
    else res.writeHead(404).end();
  });
  const account = await store.createAccount(
    {
      name: 'acme',
      limits: DEFAULT_LIMITS,
      jwt: null,
      nodeAllowlist: null,
      allowedPools: null,
      webhookSecret: 'whsec_x',
    },
    Date.now(),
  );
  accountId = account.id;
});

afterEach(async () => {
  await Promise.all(fetchers.splice(0).map((f) => f.stop()));
  await server.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

function fetcher(extra: Partial<InputFetcherOptions> = {}): InputFetcher {
  const f = new InputFetcher({ store, storage, allow: [`127.0.0.1:${server.port}`], idleMs: 20, ...extra });
  fetchers.push(f);
  return f;
}

async function admitWithInputs(inputs: JobInput[]): Promise<string> {
  const result = await store.admitJob(
    {
      accountId,
      userId: 'u1',
      priority: 0,
      pool: 'default',
      workflow: { '1': { class_type: 'LoadImage', inputs: { image: 'face' } } },
      templateName: null,
      inputs,
      inputsReady: false,
      webhookUrl: null,
      metadata: {},
      idempotencyKey: null,
      requestHash: null,
    },
    Date.now(),
  );
  if (result.kind !== 'admitted') throw new Error(`not admitted: ${result.kind}`);
  return result.job.id;
}

async function job(id: string): Promise<Job> {
  const j = await store.getJob(id);
  if (j === null) throw new Error(`no job ${id}`);
  return j;
}

describe('InputFetcher', () => {
  it('announces a ready job to its pool and a failed one to its subscribers, telling onFailed the failed job', async () => {
    const bus = createLocalBus();
    const heard: BusMessage[] = [];
    bus.subscribe((m) => heard.push(m));
    const failedJobs: Job[] = [];
    const ok = await admitWithInputs([{ name: 'face', url: server.url('/ok.png'), filename: 'face.png' }]);
    const bad = await admitWithInputs([{ name: 'face', url: server.url('/missing.png'), filename: 'f.png' }]);
    expect(await fetcher({ bus, onFailed: (j) => failedJobs.push(j) }).runOnce()).toBe(2);
    await new Promise((r) => setImmediate(r));
    expect(heard).toContainEqual({ kind: 'job_ready', pool: 'default' });
    expect(heard).toContainEqual({ kind: 'job_event', jobId: bad, ended: true });
    expect(heard.filter((m) => m.kind === 'job_event' && m.jobId === ok)).toEqual([]);
    // Logged and counted as it ended: `job failed (input_fetch_failed)`, not the queued job it was.
    expect(failedJobs.map((j) => [j.id, j.status, j.error?.code])).toEqual([
      [bad, 'failed', 'input_fetch_failed'],
    ]);
    await bus.close();
  });

  it('fetches URL inputs into storage and makes the job claimable', async () => {
    const id = await admitWithInputs([
      { name: 'face', url: server.url('/ok.png'), filename: 'face.png' },
      {
        name: 'kept',
        filename: 'kept.png',
        objectKey: 'jobs/x/inputs/kept.png',
        contentType: 'image/png',
        size: 1,
      },
    ]);
    expect(await fetcher().runOnce()).toBe(1);
    const j = await job(id);
    expect(j.status).toBe('queued');
    expect(j.inputsReady).toBe(true);
    expect(j.inputs[0]).toMatchObject({
      name: 'face',
      objectKey: `jobs/${id}/inputs/face.png`,
      contentType: 'image/png',
      size: png.length,
    });
    expect(j.inputs[1]).toMatchObject({ name: 'kept', objectKey: 'jobs/x/inputs/kept.png' });
    const stored = await storage.get(`jobs/${id}/inputs/face.png`);
    expect((await buffer(stored!.body)).equals(png)).toBe(true);
  });

  it.each([
    [
      'a non-allowlisted loopback URL',
      () => `http://127.0.0.1:${server.port + 1}/x.png`,
      'input_fetch_blocked',
    ],
    ['localhost', () => `http://localhost:${server.port}/ok.png`, 'input_fetch_blocked'],
    ['a 404', () => server.url('/missing.png'), 'input_fetch_failed'],
    ['a truncated image', () => server.url('/broken.png'), 'input_invalid'],
  ])('fails the job for %s', async (_what, url, code) => {
    const id = await admitWithInputs([{ name: 'face', url: url(), filename: 'face.png' }]);
    await fetcher().runOnce();
    const j = await job(id);
    expect(j.status).toBe('failed');
    expect(j.error?.code).toBe(code);
    expect(j.error?.message).toContain('input "face"');
  });

  it('runs in the background until stopped, leaving no timer behind', async () => {
    let claims = 0;
    const counting: InputFetcherOptions['store'] = {
      claimInputFetches: (...a) => {
        claims++;
        return store.claimInputFetches(...a);
      },
      markInputsReady: (...a) => store.markInputsReady(...a),
      failQueuedJob: (...a) => store.failQueuedJob(...a),
    };
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const f = fetcher({ store: counting, idleMs: 60_000 });
    f.start();
    const id = await admitWithInputs([{ name: 'face', url: server.url('/ok.png'), filename: 'face.png' }]);
    f.wake(); // the 60 s idle pause ends at once
    await expect.poll(async () => (await job(id)).inputsReady, { timeout: 5000 }).toBe(true);
    await expect.poll(() => timers()).toBeGreaterThan(before); // idling again, on a 60 s timer
    const idling = timers();
    await f.stop();
    const claimsAtStop = claims;
    expect(timers()).toBe(idling - 1);
    f.wake();
    expect(claims).toBe(claimsAtStop);
  });

  it('abandons a fetch in flight on stop without failing the job', async () => {
    const f = fetcher({ timeouts: { bodyIdleMs: 60_000 } });
    const id = await admitWithInputs([{ name: 'face', url: server.url('/stall'), filename: 'face.png' }]);
    f.start();
    await expect.poll(() => server.connections(), { timeout: 5000 }).toBe(1);
    await f.stop();
    const j = await job(id);
    expect(j.status).toBe('queued');
    expect(j.inputsReady).toBe(false);
  });

  it('survives a storage failure: reports it, fails nothing, and retries after the lease', async () => {
    let broken = true;
    const flaky: ObjectStorage = {
      put: async (key, body, contentType) => {
        if (broken) throw new Error('disk full');
        return await storage.put(key, body, contentType);
      },
      get: (key) => storage.get(key),
      deletePrefix: (p) => storage.deletePrefix(p),
      list: (p) => storage.list(p),
      deleteKeys: (keys) => storage.deleteKeys(keys),
      presignedGetUrl: async () => null,
      check: () => storage.check(),
    };
    const errors: string[] = [];
    let clock = Date.now();
    const f = fetcher({
      storage: flaky,
      leaseMs: 1000,
      now: () => clock,
      onError: (e) => errors.push(String(e)),
    });
    const id = await admitWithInputs([{ name: 'face', url: server.url('/ok.png'), filename: 'face.png' }]);
    expect(await f.runOnce()).toBe(1);
    expect(errors).toEqual(['Error: disk full']);
    expect((await job(id)).status).toBe('queued');
    expect(await f.runOnce()).toBe(0); // still leased
    broken = false;
    clock += 1001;
    expect(await f.runOnce()).toBe(1);
    expect((await job(id)).inputsReady).toBe(true);
  });
});
