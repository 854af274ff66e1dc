/**
 * A worker stores output files only while it holds the job's lease, under its current attempt's key; the
 * check reads the lease columns, not the whole job (it runs before every file of every job).
 */
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { LocalJobChannel } from '../../src/agent/local-job-channel.js';
import { LeaseLostError } from '../../src/workers/job-channel.js';
import { BACKENDS } from '../store/backends.js';
import { jobInput, makeAccount } from '../store/fixtures.js';
import { WorkerService } from '../../src/workers/worker-service.js';
import {
  outputFile as file,
  useWorkerService,
  claimedThroughService,
  registeredChannel,
} from './service-fixture.js';

describe.each(BACKENDS)('output uploads and the lease on $name', (backend) => {
  const fx = useWorkerService(backend);

  async function claimedBy(workerId: string): Promise<{ accountId: string; jobId: string }> {
    const account = await makeAccount(fx.db.store);
    const r = await fx.db.store.admitJob(jobInput(account.id, 'u1'), 1_000);
    if (r.kind !== 'admitted') throw new Error('not admitted');
    expect((await fx.db.store.claimNext(workerId, 'default', 10_000, 2_000))?.id).toBe(r.job.id);
    return { accountId: account.id, jobId: r.job.id };
  }

  it('held: stored under the attempt, without reading the whole job', async () => {
    const { jobId } = await claimedBy('w1');
    const getJob = vi.spyOn(fx.db.store, 'getJob');
    expect((await fx.service.storeOutput(jobId, 'w1', file)).objectKey).toBe(
      `jobs/${jobId}/outputs/1.0-out.png`,
    );
    // The previous release's route: this attempt's key too, the index as the arrival number.
    expect((await fx.service.storeIndexedOutput(jobId, 'w1', 2, file)).objectKey).toBe(
      `jobs/${jobId}/outputs/1.2-out.png`,
    );
    expect(await fx.service.waitForCancel(jobId, 'w1', 0)).toBe('held');
    expect(getJob).not.toHaveBeenCalled();
  });

  it('another worker: refused', async () => {
    const { jobId } = await claimedBy('w1');
    await expect(fx.service.storeOutput(jobId, 'w2', file)).rejects.toBeInstanceOf(LeaseLostError);
    await expect(fx.service.storeIndexedOutput(jobId, 'w2', 0, file)).rejects.toBeInstanceOf(LeaseLostError);
    expect(await fx.service.waitForCancel(jobId, 'w2', 0)).toBe('lost');
  });

  it('lost (requeued, then ended): refused; an unknown job too', async () => {
    const { accountId, jobId } = await claimedBy('w1');
    expect(await fx.db.store.expireLeases(3, 1_000_000)).toEqual([{ jobId, outcome: 'requeued' }]);
    await expect(fx.service.storeOutput(jobId, 'w1', file)).rejects.toBeInstanceOf(LeaseLostError);
    await expect(fx.service.storeIndexedOutput(jobId, 'w1', 0, file)).rejects.toBeInstanceOf(LeaseLostError);
    expect(await fx.service.waitForCancel(jobId, 'w1', 0)).toBe('lost');
    expect((await fx.db.store.requestCancel(accountId, 'u1', jobId, 1_000_001)).kind).toBe('cancelled');
    await expect(fx.service.storeOutput(jobId, 'w1', file)).rejects.toBeInstanceOf(LeaseLostError);
    await expect(fx.service.storeOutput('job_missing', 'w1', file)).rejects.toBeInstanceOf(LeaseLostError);
  });

  it('attempt changed: the same worker holding the job again stores under the new attempt', async () => {
    const { jobId } = await claimedBy('w1');
    expect((await fx.db.store.expireLeases(3, 1_000_000)).map((o) => o.outcome)).toEqual(['requeued']);
    await fx.db.store.claimNext('w1', 'default', 10_000, 1_000_001);
    expect((await fx.service.storeOutput(jobId, 'w1', file)).objectKey).toBe(
      `jobs/${jobId}/outputs/2.0-out.png`,
    );
  });

  it('a requested cancel is seen by the wait', async () => {
    const { accountId, jobId } = await claimedBy('w1');
    expect((await fx.db.store.requestCancel(accountId, 'u1', jobId, 3_000)).kind).toBe('cancel_requested');
    expect(await fx.service.waitForCancel(jobId, 'w1', 0)).toBe('cancel_requested');
    // Cancel requested: the worker still holds the job and may store what it already produced.
    expect((await fx.service.storeOutput(jobId, 'w1', file)).objectKey).toBe(
      `jobs/${jobId}/outputs/1.0-out.png`,
    );
  });
});

/**
 * An in-process agent's channel names its uploads' keys from the attempt its own claim was handed: the lease is
 * read once, after the bytes are written (answered before that read), and a lease lost since the claim still
 * gets the file deleted. Once the run reported its end, an upload reads the lease first again.
 */
describe.each(BACKENDS)('an in-process agent’s uploads on $name', (backend) => {
  const fx = useWorkerService(backend);
  let channel: LocalJobChannel;
  beforeEach(async () => {
    channel = await registeredChannel(fx, 'w1');
  });

  async function claimedHere(): Promise<{ accountId: string; jobId: string }> {
    const account = await makeAccount(fx.db.store);
    const r = await fx.db.store.admitJob(jobInput(account.id, 'u1'), Date.now());
    if (r.kind !== 'admitted') throw new Error('not admitted');
    expect((await channel.claim(0))?.id).toBe(r.job.id);
    return { accountId: account.id, jobId: r.job.id };
  }

  /** Resolves once storage deleted something (the lease check's clean-up of a file it refused). */
  function nextDelete(): Promise<void> {
    return new Promise<void>((resolve) => {
      const del = fx.storage.deleteKeys.bind(fx.storage);
      vi.spyOn(fx.storage, 'deleteKeys').mockImplementation(async (keys) => {
        const n = await del(keys);
        resolve();
        return n;
      });
    });
  }

  it('held: one lease read per upload, after its bytes; the completion that follows stands', async () => {
    const { jobId } = await claimedHere();
    const leaseReads = vi.spyOn(fx.db.store, 'jobLease');
    const stored = await channel.storeOutput(jobId, file);
    expect(stored.objectKey).toBe(`jobs/${jobId}/outputs/1.0-out.png`);
    await vi.waitFor(() => expect(leaseReads).toHaveBeenCalledTimes(1));
    expect((await channel.complete(jobId, [{ ...stored, index: 0 }])).kind).toBe('finished');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(leaseReads).toHaveBeenCalledTimes(1);
    expect(await fx.storage.get(stored.objectKey)).not.toBeNull();
    expect((await fx.db.store.getJob(jobId))?.status).toBe('completed');
  });

  it('lost since the claim (requeued, then claimed by another worker): answered, and the file deleted', async () => {
    const { jobId } = await claimedHere();
    expect(await fx.db.store.expireLeases(3, Date.now() + 60_000)).toEqual([{ jobId, outcome: 'requeued' }]);
    expect((await fx.db.store.claimNext('w2', 'default', 10_000, Date.now()))?.id).toBe(jobId);
    const deleted = nextDelete();
    // Answered with the key its bytes went to; the run hears of the lost lease from its next report.
    const stored = await channel.storeOutput(jobId, file);
    expect(stored.objectKey).toBe(`jobs/${jobId}/outputs/1.0-out.png`);
    await deleted;
    expect(await fx.storage.get(stored.objectKey)).toBeNull();
    expect((await channel.complete(jobId, [{ ...stored, index: 0 }])).kind).toBe('lost');
  });

  it('lost since the claim (cancelled, ended): the file deleted', async () => {
    const { accountId, jobId } = await claimedHere();
    expect(await fx.db.store.expireLeases(3, Date.now() + 60_000)).toEqual([{ jobId, outcome: 'requeued' }]);
    expect((await fx.db.store.requestCancel(accountId, 'u1', jobId, Date.now())).kind).toBe('cancelled');
    const deleted = nextDelete();
    const stored = await channel.storeOutput(jobId, file);
    await deleted;
    expect(await fx.storage.get(stored.objectKey)).toBeNull();
  });

  it('claimed again by the same agent: stored under the new attempt', async () => {
    const { jobId } = await claimedHere();
    expect(await fx.db.store.expireLeases(3, Date.now() + 60_000)).toEqual([{ jobId, outcome: 'requeued' }]);
    expect((await channel.claim(0))?.attempt).toBe(2);
    expect((await channel.storeOutput(jobId, file)).objectKey).toBe(`jobs/${jobId}/outputs/2.0-out.png`);
  });

  it('after the run reported its end: the upload reads the lease first, and is refused before its bytes', async () => {
    const { jobId } = await claimedHere();
    expect((await channel.fail(jobId, { code: 'execution_error', message: 'x' })).kind).toBe('finished');
    const leaseReads = vi.spyOn(fx.db.store, 'jobLease');
    await expect(channel.storeOutput(jobId, file)).rejects.toBeInstanceOf(LeaseLostError);
    expect(leaseReads).toHaveBeenCalledTimes(1);
    expect(await fx.storage.get(`jobs/${jobId}/outputs/1.0-out.png`)).toBeNull();
  });
});

/**
 * Two replicas on one database: a remote agent's reports reach either. A claim remembered on one replica says
 * nothing once the run ended or the job was claimed again on the other, so an upload over the worker API reads
 * the lease before its bytes, whichever replica it reaches.
 */
describe.each(BACKENDS)('output uploads over the worker API, two replicas, on $name', (backend) => {
  const fx = useWorkerService(backend);

  async function claimedOnA(workerId: string): Promise<{ jobId: string; replicaB: WorkerService }> {
    const { jobId } = await claimedThroughService(fx, workerId);
    const replicaB = new WorkerService({
      store: fx.db.store,
      storage: fx.storage,
      bus: fx.bus,
      leaseMs: 10_000,
      maxAttempts: 3,
    });
    return { jobId, replicaB };
  }

  it('released and claimed again on the other replica: stored under the attempt the worker runs', async () => {
    const { jobId, replicaB } = await claimedOnA('w1');
    expect(await replicaB.release(jobId, 'w1', 'ComfyUI unavailable', true)).toEqual({
      kind: 'finished',
      status: 'queued',
    });
    expect((await replicaB.claim('w1', 'default', 0))?.job.attempts).toBe(2);
    const stored = await fx.service.storeOutput(jobId, 'w1', file, { after: 'background' });
    expect(stored.objectKey).toBe(`jobs/${jobId}/outputs/2.0-out.png`);
    expect((await replicaB.complete(jobId, 'w1', [{ ...stored, index: 0 }])).kind).toBe('finished');
    expect(await fx.storage.get(stored.objectKey)).not.toBeNull();
  });

  it('lease checks after the bytes that fail (database away) are logged once per outage: the uploads answered, their files kept', async () => {
    const logged: string[] = [];
    const service = new WorkerService({
      ...{ store: fx.db.store, storage: fx.storage, bus: fx.bus, leaseMs: 10_000, maxAttempts: 3 },
      log: {
        warn: (_details, message) => logged.push(`warn: ${message}`),
        info: (_details, message) => logged.push(`info: ${message}`),
      },
    });
    const { jobId } = await claimedThroughService(fx, 'w1');
    const away = vi.spyOn(fx.db.store, 'jobLease').mockRejectedValue(new Error('database away'));
    const files = [0, 1, 2].map((seq) => ({ ...file, seq, filename: `out-${seq}.png` }));
    const stored = [];
    for (const f of files) {
      stored.push(await service.storeOutput(jobId, 'w1', f, { attempt: 1, after: 'background' }));
    }
    await vi.waitFor(() => expect(away).toHaveBeenCalledTimes(3));
    await new Promise((resolve) => setImmediate(resolve));
    // Three failed checks, one warning (a batch of outputs during an outage is not a warning per file).
    expect(logged).toEqual([
      'warn: the lease check after an output upload failed (logged once until one succeeds)',
    ]);
    for (const s of stored) expect((await fx.storage.get(s.objectKey))?.size).toBe(file.bytes.length);
    // The next check that answers ends the outage, logged once.
    away.mockRestore();
    await service.storeOutput(jobId, 'w1', { ...file, seq: 3 }, { attempt: 1, after: 'background' });
    await vi.waitFor(() => expect(logged).toHaveLength(2));
    expect(logged[1]).toBe('info: the lease checks after output uploads recovered');
  });

  it('completed on the other replica: a late upload is refused before its bytes, the output untouched', async () => {
    const { jobId, replicaB } = await claimedOnA('w1');
    const stored = await fx.service.storeOutput(jobId, 'w1', file);
    expect((await replicaB.complete(jobId, 'w1', [{ ...stored, index: 0 }])).kind).toBe('finished');
    const late = { ...file, bytes: Buffer.from('something else') };
    await expect(fx.service.storeOutput(jobId, 'w1', late, { after: 'background' })).rejects.toBeInstanceOf(
      LeaseLostError,
    );
    expect((await fx.storage.get(stored.objectKey))?.size).toBe(file.bytes.length);
  });
});
