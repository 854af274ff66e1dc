/**
 * Which output files the worker service deletes when a run is over: never the files of the attempt running now
 * or of the one the job completed with, even when a worker repeats a completion that was accepted. A voluntary
 * release keeps its attempt number (migration 012), so the next run stores under keys of its own.
 */
import { describe, expect, it } from 'vitest';
import { createLocalBus } from '../../src/events/local-bus.js';
import type { JobOutput } from '../../src/jobs/types.js';
import type { ObjectStorage } from '../../src/media/storage/contract.js';
import { LeaseLostError } from '../../src/workers/job-channel.js';
import { lastStaleAttempt } from '../../src/workers/stale-outputs.js';
import type { Store } from '../../src/store/contract.js';
import { WorkerService } from '../../src/workers/worker-service.js';
import { BACKENDS } from '../store/backends.js';
import { jobInput, makeAccount } from '../store/fixtures.js';
import { outputFile as file, useWorkerService } from './service-fixture.js';

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
  const fx = useWorkerService(backend);

  async function claimed(workerId: string): Promise<string> {
    const account = await makeAccount(fx.db.store);
    const r = await fx.db.store.admitJob(jobInput(account.id, 'u1'), 1_000);
    if (r.kind !== 'admitted') throw new Error('not admitted');
    expect((await fx.db.store.claimNext(workerId, 'default', 10_000, Date.now()))?.id).toBe(r.job.id);
    return r.job.id;
  }

  async function stored(key: string): Promise<boolean> {
    const found = await fx.storage.get(key);
    found?.body.destroy();
    return found !== null;
  }

  async function bytesOf(key: string): Promise<string | null> {
    const found = await fx.storage.get(key);
    if (found === null) return null;
    const chunks: Buffer[] = [];
    for await (const chunk of found.body) chunks.push(Buffer.from(chunk as Uint8Array));
    return Buffer.concat(chunks).toString();
  }

  /** The first run's lease expires (the sweep requeues the job) and w2 claims it: attempt 2. */
  async function requeuedToW2(): Promise<void> {
    expect((await fx.db.store.expireLeases(3, Date.now() + 60_000)).map((o) => o.outcome)).toEqual([
      'requeued',
    ]);
    expect((await fx.db.store.claimNext('w2', 'default', 10_000, Date.now() + 60_000))?.attempts).toBe(2);
  }

  async function storeOne(jobId: string, workerId: string): Promise<JobOutput> {
    return { index: 0, ...(await fx.service.storeOutput(jobId, workerId, file)) };
  }

  it('a voluntary release deletes its run’s files: the next run has a new attempt number, and keeps its own', async () => {
    const jobId = await claimed('w1');
    const first = await storeOne(jobId, 'w1');
    expect(await fx.service.release(jobId, 'w1', 'the worker is stopping', true)).toEqual({
      kind: 'finished',
      status: 'queued',
    });
    expect(await stored(first.objectKey)).toBe(false);
    expect((await fx.db.store.claimNext('w2', 'default', 10_000, Date.now()))?.attempts).toBe(2);
    const second = await storeOne(jobId, 'w2');
    expect(second.objectKey).toBe(`jobs/${jobId}/outputs/2.0-out.png`);
    // The first worker's late completion, naming the same key: refused, and the running attempt's file stays.
    expect(await fx.service.complete(jobId, 'w1', [first])).toEqual({ kind: 'lost' });
    expect(await stored(second.objectKey)).toBe(true);
    expect(await fx.service.complete(jobId, 'w2', [second])).toEqual({
      kind: 'finished',
      status: 'completed',
    });
    expect(await stored(second.objectKey)).toBe(true);
  });

  it('a completion repeated after it was accepted deletes nothing of the job’s outputs', async () => {
    const jobId = await claimed('w1');
    const output = await storeOne(jobId, 'w1');
    expect(await fx.service.complete(jobId, 'w1', [output])).toEqual({
      kind: 'finished',
      status: 'completed',
    });
    await fx.service.complete(jobId, 'w1', [output]);
    expect(await stored(output.objectKey)).toBe(true);
  });

  /** A fx.service whose first put waits for `land()`: an upload request still being stored after its client left. */
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
        return await fx.storage.put(key, body, contentType);
      },
      get: (key, known) => fx.storage.get(key, known),
      deletePrefix: (prefix) => fx.storage.deletePrefix(prefix),
      list: (prefix) => fx.storage.list(prefix),
      deleteKeys: (keys) => fx.storage.deleteKeys(keys),
      presignedGetUrl: (key, ttl) => fx.storage.presignedGetUrl(key, ttl),
      check: () => fx.storage.check(),
    };
    const slow = new WorkerService({
      store: fx.db.store,
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
    expect(await fx.service.complete(jobId, 'w1', [retried])).toEqual({
      kind: 'finished',
      status: 'completed',
    });
    land();
    await expect(late).rejects.toBeInstanceOf(LeaseLostError);
    expect(await stored(retried.objectKey)).toBe(true);
  });

  it('an upload that lands after a voluntary release neither overwrites the next run’s file nor stays', async () => {
    const jobId = await claimed('w1');
    const { slow, entered, land } = withSlowFirstPut();
    const late = slow.storeOutput(jobId, 'w1', { ...file, bytes: Buffer.from('the stopped run') });
    await entered; // the late upload passed its lease check (attempt 1) and is being stored
    expect(await fx.service.release(jobId, 'w1', 'the worker is stopping', true)).toEqual({
      kind: 'finished',
      status: 'queued',
    });
    expect((await fx.db.store.claimNext('w2', 'default', 10_000, Date.now()))?.attempts).toBe(2);
    const current = await storeOne(jobId, 'w2');
    land();
    await expect(late).rejects.toBeInstanceOf(LeaseLostError);
    // Before attempt numbers were unique, both runs wrote `1.0-out.png`: the stopped run's bytes replaced these.
    expect(await bytesOf(current.objectKey)).toBe('png');
    expect(await stored(`jobs/${jobId}/outputs/1.0-out.png`)).toBe(false);
    expect(await fx.service.complete(jobId, 'w2', [current])).toEqual({
      kind: 'finished',
      status: 'completed',
    });
    expect(await bytesOf(current.objectKey)).toBe('png');
  });

  it('a late upload on the previous release’s index route neither overwrites nor deletes the next run’s file', async () => {
    const jobId = await claimed('w1');
    const { slow, entered, land } = withSlowFirstPut();
    const late = slow.storeIndexedOutput(jobId, 'w1', 0, { ...file, bytes: Buffer.from('the lost run') });
    await entered; // the late upload passed its lease check (attempt 1) and is being stored
    await requeuedToW2();
    // Attempt 2, also an agent of the previous release, stores the same output index and completes.
    const current = await fx.service.storeIndexedOutput(jobId, 'w2', 0, file);
    expect(await fx.service.complete(jobId, 'w2', [current])).toEqual({
      kind: 'finished',
      status: 'completed',
    });
    land();
    await expect(late).rejects.toBeInstanceOf(LeaseLostError);
    // Keyed by index alone (`0-out.png`), the late bytes replaced the completed run's file, and the re-check
    // then deleted it: the completion named a file that was gone. Keyed by attempt, each run has its own.
    expect(current.objectKey).toBe(`jobs/${jobId}/outputs/2.0-out.png`);
    expect(await bytesOf(current.objectKey)).toBe('png');
    expect(await stored(`jobs/${jobId}/outputs/1.0-out.png`)).toBe(false);
  });

  it('a late upload on the index route whose retry stored the file and completed the job deletes nothing', async () => {
    const jobId = await claimed('w1');
    const { slow, entered, land } = withSlowFirstPut();
    const late = slow.storeIndexedOutput(jobId, 'w1', 0, file);
    await entered;
    const retried = await slow.storeIndexedOutput(jobId, 'w1', 0, file);
    expect(await fx.service.complete(jobId, 'w1', [retried])).toEqual({
      kind: 'finished',
      status: 'completed',
    });
    land();
    await expect(late).rejects.toBeInstanceOf(LeaseLostError);
    expect(await bytesOf(retried.objectKey)).toBe('png');
  });

  it('a refused completion leaves the attempt running elsewhere alone, and the job completes with it', async () => {
    const jobId = await claimed('w1');
    const lost = await storeOne(jobId, 'w1');
    await requeuedToW2();
    const current = await storeOne(jobId, 'w2');
    expect(await fx.service.complete(jobId, 'w1', [lost])).toEqual({ kind: 'lost' });
    expect(await stored(lost.objectKey)).toBe(false);
    expect(await stored(current.objectKey)).toBe(true);
    expect(await fx.service.complete(jobId, 'w2', [current])).toEqual({
      kind: 'finished',
      status: 'completed',
    });
    expect((await fx.db.store.getJob(jobId))?.outputs.map((o) => o.objectKey)).toEqual([current.objectKey]);
    expect(await stored(current.objectKey)).toBe(true);
  });

  it('a refused completion finds the orphaned attempts from the job’s attempts and output keys, not its whole row', async () => {
    // The whole row (workflow, inputs) is not needed to tell which attempts are over: a store whose getJob
    // fails still lets the fx.service delete the lost run's files.
    const narrow = new Proxy(fx.db.store, {
      get(target, key) {
        if (key === 'getJob') return () => Promise.reject(new Error('getJob is not needed here'));
        const value: unknown = Reflect.get(target, key);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    }) satisfies Store;
    const reader = new WorkerService({
      store: narrow,
      storage: fx.storage,
      bus: createLocalBus(),
      leaseMs: 10_000,
      maxAttempts: 3,
    });
    const jobId = await claimed('w1');
    const lost = await storeOne(jobId, 'w1');
    await requeuedToW2();
    const current = await storeOne(jobId, 'w2');
    expect(await reader.complete(jobId, 'w1', [lost])).toEqual({ kind: 'lost' });
    expect(await stored(lost.objectKey)).toBe(false);
    expect(await stored(current.objectKey)).toBe(true);
  });
});
