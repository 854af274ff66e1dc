/**
 * A worker stores output files only while it holds the job's lease, under its current attempt's key; the
 * check reads the lease columns, not the whole job (it runs before every file of every job).
 */
import { describe, expect, it, vi } from 'vitest';
import { LeaseLostError } from '../../src/workers/job-channel.js';
import { BACKENDS } from '../store/backends.js';
import { jobInput, makeAccount } from '../store/fixtures.js';
import { WorkerService } from '../../src/workers/worker-service.js';
import { outputFile as file, useWorkerService } from './service-fixture.js';

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
 * A claim made through this service tells its in-process agent's uploads which attempt the worker runs (claimed-leases.ts): the
 * lease is read once, after the bytes are written, and a lease lost since that claim still refuses the upload
 * and leaves no file.
 */
describe.each(BACKENDS)('output uploads after this replica’s own claim on $name', (backend) => {
  const fx = useWorkerService(backend);

  async function claimedHere(workerId: string): Promise<{ accountId: string; jobId: string }> {
    const account = await makeAccount(fx.db.store);
    const r = await fx.db.store.admitJob(jobInput(account.id, 'u1'), Date.now());
    if (r.kind !== 'admitted') throw new Error('not admitted');
    expect((await fx.service.claim(workerId, 'default', 0))?.job.id).toBe(r.job.id);
    return { accountId: account.id, jobId: r.job.id };
  }

  it('held: one lease read per upload, after its bytes', async () => {
    const { jobId } = await claimedHere('w1');
    const leaseReads = vi.spyOn(fx.db.store, 'jobLease');
    const stored = await fx.service.storeOutput(jobId, 'w1', file, 'await', 'in-process');
    expect(stored.objectKey).toBe(`jobs/${jobId}/outputs/1.0-out.png`);
    expect(leaseReads).toHaveBeenCalledTimes(1);
    expect(await fx.storage.get(stored.objectKey)).not.toBeNull();
  });

  it('lost since the claim (requeued, then claimed by another worker): refused, and the file deleted', async () => {
    const { jobId } = await claimedHere('w1');
    expect(await fx.db.store.expireLeases(3, Date.now() + 60_000)).toEqual([{ jobId, outcome: 'requeued' }]);
    expect((await fx.db.store.claimNext('w2', 'default', 10_000, Date.now()))?.id).toBe(jobId);
    await expect(fx.service.storeOutput(jobId, 'w1', file, 'await', 'in-process')).rejects.toBeInstanceOf(
      LeaseLostError,
    );
    expect(await fx.storage.get(`jobs/${jobId}/outputs/1.0-out.png`)).toBeNull();
    // Another worker never borrows w1's claim.
    await expect(fx.service.storeOutput(jobId, 'w3', file, 'await', 'in-process')).rejects.toBeInstanceOf(
      LeaseLostError,
    );
  });

  it('lost since the claim (cancelled, ended): refused, and the file deleted', async () => {
    const { accountId, jobId } = await claimedHere('w1');
    expect(await fx.db.store.expireLeases(3, Date.now() + 60_000)).toEqual([{ jobId, outcome: 'requeued' }]);
    expect((await fx.db.store.requestCancel(accountId, 'u1', jobId, Date.now())).kind).toBe('cancelled');
    await expect(fx.service.storeOutput(jobId, 'w1', file, 'await', 'in-process')).rejects.toBeInstanceOf(
      LeaseLostError,
    );
    expect(await fx.storage.get(`jobs/${jobId}/outputs/1.0-out.png`)).toBeNull();
  });

  it('answered before its check (the in-process agent): a lease lost since still gets its file deleted', async () => {
    const { jobId } = await claimedHere('w1');
    expect(await fx.db.store.expireLeases(3, Date.now() + 60_000)).toEqual([{ jobId, outcome: 'requeued' }]);
    expect((await fx.db.store.claimNext('w2', 'default', 10_000, Date.now()))?.id).toBe(jobId);
    const deleted = new Promise<void>((resolve) => {
      const del = fx.storage.deleteKeys.bind(fx.storage);
      vi.spyOn(fx.storage, 'deleteKeys').mockImplementation(async (keys) => {
        const n = await del(keys);
        resolve();
        return n;
      });
    });
    // Answered with the key its bytes went to; the run hears of the lost lease from its next report.
    const stored = await fx.service.storeOutput(jobId, 'w1', file, 'background', 'in-process');
    expect(stored.objectKey).toBe(`jobs/${jobId}/outputs/1.0-out.png`);
    await deleted;
    expect(await fx.storage.get(stored.objectKey)).toBeNull();
  });

  it('answered before its check, held: the file stays, and the completion that follows stands', async () => {
    const { jobId } = await claimedHere('w1');
    const stored = await fx.service.storeOutput(jobId, 'w1', file, 'background', 'in-process');
    const done = await fx.service.complete(jobId, 'w1', [{ ...stored, index: 0 }]);
    expect(done.kind).toBe('finished');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await fx.storage.get(stored.objectKey)).not.toBeNull();
    expect((await fx.db.store.getJob(jobId))?.status).toBe('completed');
  });

  it('claimed again here by the same worker: stored under the new attempt', async () => {
    const { jobId } = await claimedHere('w1');
    expect(await fx.db.store.expireLeases(3, Date.now() + 60_000)).toEqual([{ jobId, outcome: 'requeued' }]);
    expect((await fx.service.claim('w1', 'default', 0))?.job.attempts).toBe(2);
    expect((await fx.service.storeOutput(jobId, 'w1', file, 'await', 'in-process')).objectKey).toBe(
      `jobs/${jobId}/outputs/2.0-out.png`,
    );
  });

  it('ended through this service: the next upload reads the lease first again', async () => {
    const { jobId } = await claimedHere('w1');
    expect((await fx.service.fail(jobId, 'w1', { code: 'execution_error', message: 'x' })).kind).toBe(
      'finished',
    );
    const leaseReads = vi.spyOn(fx.db.store, 'jobLease');
    await expect(fx.service.storeOutput(jobId, 'w1', file, 'await', 'in-process')).rejects.toBeInstanceOf(
      LeaseLostError,
    );
    // Refused by the read before any bytes: nothing written, nothing to delete.
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
    const account = await makeAccount(fx.db.store);
    const r = await fx.db.store.admitJob(jobInput(account.id, 'u1'), Date.now());
    if (r.kind !== 'admitted') throw new Error('not admitted');
    expect((await fx.service.claim(workerId, 'default', 0))?.job.id).toBe(r.job.id);
    const replicaB = new WorkerService({
      store: fx.db.store,
      storage: fx.storage,
      bus: fx.bus,
      leaseMs: 10_000,
      maxAttempts: 3,
    });
    return { jobId: r.job.id, replicaB };
  }

  it('released and claimed again on the other replica: stored under the attempt the worker runs', async () => {
    const { jobId, replicaB } = await claimedOnA('w1');
    expect(await replicaB.release(jobId, 'w1', 'ComfyUI unavailable', true)).toEqual({
      kind: 'finished',
      status: 'queued',
    });
    expect((await replicaB.claim('w1', 'default', 0))?.job.attempts).toBe(2);
    const stored = await fx.service.storeOutput(jobId, 'w1', file, 'background', 'remote');
    expect(stored.objectKey).toBe(`jobs/${jobId}/outputs/2.0-out.png`);
    expect((await replicaB.complete(jobId, 'w1', [{ ...stored, index: 0 }])).kind).toBe('finished');
    expect(await fx.storage.get(stored.objectKey)).not.toBeNull();
  });

  it('completed on the other replica: a late upload is refused before its bytes, the output untouched', async () => {
    const { jobId, replicaB } = await claimedOnA('w1');
    const stored = await fx.service.storeOutput(jobId, 'w1', file, 'await', 'remote');
    expect((await replicaB.complete(jobId, 'w1', [{ ...stored, index: 0 }])).kind).toBe('finished');
    const late = { ...file, bytes: Buffer.from('something else') };
    await expect(fx.service.storeOutput(jobId, 'w1', late, 'background', 'remote')).rejects.toBeInstanceOf(
      LeaseLostError,
    );
    expect((await fx.storage.get(stored.objectKey))?.size).toBe(file.bytes.length);
  });
});
