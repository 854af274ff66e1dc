/**
 * Which output files the worker service deletes when a run is over: never the files of the attempt running now
 * or of the one the job completed with, even when a worker repeats a completion that was accepted. A voluntary
 * release keeps its attempt number (migration 012), so the next run stores under keys of its own.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalBus } from '../../src/events/local-bus.js';
import type { JobOutput } from '../../src/jobs/types.js';
import type { ObjectStorage } from '../../src/media/storage/contract.js';
import { openStorage } from '../../src/media/storage/open-storage.js';
import { LeaseLostError, type OutputFile } from '../../src/workers/job-channel.js';
import { lastStaleAttempt } from '../../src/workers/stale-outputs.js';
import type { Store } from '../../src/store/contract.js';
import { WorkerService } from '../../src/workers/worker-service.js';
import { BACKENDS, type TestDb } from '../store/backends.js';
import { jobInput, makeAccount } from '../store/fixtures.js';

const file: OutputFile = {
  seq: 0,
  nodeId: '9',
  filename: 'out.png',
  contentType: 'image/png',
  bytes: Buffer.from('png'),
  type: 'output',
};

describe('lastStaleAttempt', () => {
  it('queued, failed, cancelled: every attempt so far; running, completed: all but the current one', () => {
    expect(lastStaleAttempt({ status: 'queued', attempts: 0 })).toBe(0);
    expect(lastStaleAttempt({ status: 'queued', attempts: 2 })).toBe(2);
    expect(lastStaleAttempt({ status: 'running', attempts: 1 })).toBe(0);
    expect(lastStaleAttempt({ status: 'running', attempts: 3 })).toBe(2);
    expect(lastStaleAttempt({ status: 'completed', attempts: 2 })).toBe(1);
    expect(lastStaleAttempt({ status: 'failed', attempts: 3 })).toBe(3);
    expect(lastStaleAttempt({ status: 'cancelled', attempts: 1 })).toBe(1);
  });
});

describe.each(BACKENDS)('stale output files on $name', (backend) => {
  let db: TestDb;
  let dir: string;
  let storage: ObjectStorage;
  let service: WorkerService;
  beforeEach(async () => {
    db = await backend.create();
    dir = mkdtempSync(join(tmpdir(), 'arrakis-stale-outputs-'));
    storage = openStorage(`file:${dir}`);
    service = new WorkerService({
      store: db.store,
      storage,
      bus: createLocalBus(),
      leaseMs: 10_000,
      maxAttempts: 3,
    });
  });
  afterEach(async () => {
    await db.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  async function claimed(workerId: string): Promise<string> {
    const account = await makeAccount(db.store);
    const r = await db.store.admitJob(jobInput(account.id, 'u1'), 1_000);
    if (r.kind !== 'admitted') throw new Error('not admitted');
    expect((await db.store.claimNext(workerId, 'default', 10_000, Date.now()))?.id).toBe(r.job.id);
    return r.job.id;
  }

  async function stored(key: string): Promise<boolean> {
    const found = await storage.get(key);
    found?.body.destroy();
    return found !== null;
  }

  async function bytesOf(key: string): Promise<string | null> {
    const found = await storage.get(key);
    if (found === null) return null;
    const chunks: Buffer[] = [];
    for await (const chunk of found.body) chunks.push(Buffer.from(chunk as Uint8Array));
    return Buffer.concat(chunks).toString();
  }

  async function storeOne(jobId: string, workerId: string): Promise<JobOutput> {
    return { index: 0, ...(await service.storeOutput(jobId, workerId, file)) };
  }

  it('a voluntary release deletes its run’s files: the next run has a new attempt number, and keeps its own', async () => {
    const jobId = await claimed('w1');
    const first = await storeOne(jobId, 'w1');
    expect(await service.release(jobId, 'w1', 'the worker is stopping', true)).toEqual({
      kind: 'finished',
      status: 'queued',
    });
    expect(await stored(first.objectKey)).toBe(false);
    expect((await db.store.claimNext('w2', 'default', 10_000, Date.now()))?.attempts).toBe(2);
    const second = await storeOne(jobId, 'w2');
    expect(second.objectKey).toBe(`jobs/${jobId}/outputs/2.0-out.png`);
    // The first worker's late completion, naming the same key: refused, and the running attempt's file stays.
    expect(await service.complete(jobId, 'w1', [first])).toEqual({ kind: 'lost' });
    expect(await stored(second.objectKey)).toBe(true);
    expect(await service.complete(jobId, 'w2', [second])).toEqual({ kind: 'finished', status: 'completed' });
    expect(await stored(second.objectKey)).toBe(true);
  });

  it('a completion repeated after it was accepted deletes nothing of the job’s outputs', async () => {
    const jobId = await claimed('w1');
    const output = await storeOne(jobId, 'w1');
    expect(await service.complete(jobId, 'w1', [output])).toEqual({ kind: 'finished', status: 'completed' });
    await service.complete(jobId, 'w1', [output]);
    expect(await stored(output.objectKey)).toBe(true);
  });

  /** A service whose first put waits for `land()`: an upload request still being stored after its client left. */
  function withSlowFirstPut(): { slow: WorkerService; entered: Promise<void>; land: () => void } {
    let land!: () => void;
    const gate = new Promise<void>((resolve) => (land = resolve));
    let enter!: () => void;
    const entered = new Promise<void>((resolve) => (enter = resolve));
    let first = true;
    const gated: ObjectStorage = {
      put: async (key, body, contentType) => {
        if (first) {
          first = false;
          enter();
          await gate;
        }
        return await storage.put(key, body, contentType);
      },
      get: (key, known) => storage.get(key, known),
      deletePrefix: (prefix) => storage.deletePrefix(prefix),
      presignedGetUrl: (key, ttl) => storage.presignedGetUrl(key, ttl),
      check: () => storage.check(),
    };
    const slow = new WorkerService({
      store: db.store,
      storage: gated,
      bus: createLocalBus(),
      leaseMs: 10_000,
      maxAttempts: 3,
    });
    return { slow, entered, land };
  }

  it('an upload that lands after its retry stored the file and the job completed with it deletes nothing', async () => {
    const jobId = await claimed('w1');
    const { slow, entered, land } = withSlowFirstPut();
    // The agent's upload whose answer a network blip lost: the server is still storing it when the retry lands.
    const late = slow.storeOutput(jobId, 'w1', file);
    await entered;
    const retried = { index: 0, ...(await slow.storeOutput(jobId, 'w1', file)) };
    expect(await service.complete(jobId, 'w1', [retried])).toEqual({ kind: 'finished', status: 'completed' });
    land();
    await expect(late).rejects.toBeInstanceOf(LeaseLostError);
    expect(await stored(retried.objectKey)).toBe(true);
  });

  it('an upload that lands after a voluntary release neither overwrites the next run’s file nor stays', async () => {
    const jobId = await claimed('w1');
    const { slow, entered, land } = withSlowFirstPut();
    const late = slow.storeOutput(jobId, 'w1', { ...file, bytes: Buffer.from('the stopped run') });
    await entered; // the late upload passed its lease check (attempt 1) and is being stored
    expect(await service.release(jobId, 'w1', 'the worker is stopping', true)).toEqual({
      kind: 'finished',
      status: 'queued',
    });
    expect((await db.store.claimNext('w2', 'default', 10_000, Date.now()))?.attempts).toBe(2);
    const current = await storeOne(jobId, 'w2');
    land();
    await expect(late).rejects.toBeInstanceOf(LeaseLostError);
    // Before attempt numbers were unique, both runs wrote `1.0-out.png`: the stopped run's bytes replaced these.
    expect(await bytesOf(current.objectKey)).toBe('png');
    expect(await stored(`jobs/${jobId}/outputs/1.0-out.png`)).toBe(false);
    expect(await service.complete(jobId, 'w2', [current])).toEqual({ kind: 'finished', status: 'completed' });
    expect(await bytesOf(current.objectKey)).toBe('png');
  });

  it('a refused completion leaves the attempt running elsewhere alone, and the job completes with it', async () => {
    const jobId = await claimed('w1');
    const lost = await storeOne(jobId, 'w1');
    expect((await db.store.expireLeases(3, Date.now() + 60_000)).map((o) => o.outcome)).toEqual(['requeued']);
    expect((await db.store.claimNext('w2', 'default', 10_000, Date.now() + 60_000))?.attempts).toBe(2);
    const current = await storeOne(jobId, 'w2');
    expect(await service.complete(jobId, 'w1', [lost])).toEqual({ kind: 'lost' });
    expect(await stored(lost.objectKey)).toBe(false);
    expect(await stored(current.objectKey)).toBe(true);
    expect(await service.complete(jobId, 'w2', [current])).toEqual({ kind: 'finished', status: 'completed' });
    expect((await db.store.getJob(jobId))?.outputs.map((o) => o.objectKey)).toEqual([current.objectKey]);
    expect(await stored(current.objectKey)).toBe(true);
  });

  it('a refused completion finds the orphaned attempts from the job’s attempts and output keys, not its whole row', async () => {
    // The whole row (workflow, inputs) is not needed to tell which attempts are over: a store whose getJob
    // fails still lets the service delete the lost run's files.
    const narrow = new Proxy(db.store, {
      get(target, key) {
        if (key === 'getJob') return () => Promise.reject(new Error('getJob is not needed here'));
        const value: unknown = Reflect.get(target, key);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    }) satisfies Store;
    const reader = new WorkerService({
      store: narrow,
      storage,
      bus: createLocalBus(),
      leaseMs: 10_000,
      maxAttempts: 3,
    });
    const jobId = await claimed('w1');
    const lost = await storeOne(jobId, 'w1');
    expect((await db.store.expireLeases(3, Date.now() + 60_000)).map((o) => o.outcome)).toEqual(['requeued']);
    expect((await db.store.claimNext('w2', 'default', 10_000, Date.now() + 60_000))?.attempts).toBe(2);
    const current = await storeOne(jobId, 'w2');
    expect(await reader.complete(jobId, 'w1', [lost])).toEqual({ kind: 'lost' });
    expect(await stored(lost.objectKey)).toBe(false);
    expect(await stored(current.objectKey)).toBe(true);
  });
});
