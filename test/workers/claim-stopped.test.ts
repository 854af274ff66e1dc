/**
 * A worker already told to stop claims nothing: a job it took would only be given back at once (a `running` and
 * a requeue written around it, and an attempt number spent). A claim whose worker hung up before the answer gives
 * back the lease it made, and only that one.
 */
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../store/backends.js';
import { jobInput, makeAccount } from '../store/fixtures.js';
import { useWorkerService } from './service-fixture.js';

describe.each(BACKENDS)('a claim with its stop signal fired, on $name', (backend) => {
  const fx = useWorkerService(backend);

  it('takes no job, which stays queued with no attempt spent', async () => {
    const account = await makeAccount(fx.db.store);
    const r = await fx.db.store.admitJob(jobInput(account.id, 'u1'), Date.now());
    if (r.kind !== 'admitted') throw new Error(r.kind);
    const stopped = AbortSignal.abort();
    expect(await fx.service.claim('w1', 'default', 0, stopped)).toBeNull();
    expect(await fx.service.claim('w1', 'default', 5_000, stopped)).toBeNull();
    expect(await fx.db.store.getJob(r.job.id)).toMatchObject({ status: 'queued', attempts: 0 });
    expect((await fx.service.claim('w1', 'default', 0))?.job.id).toBe(r.job.id);
  });

  it("gives back an undelivered claim's lease, refunded, and no later lease of the same job", async () => {
    const account = await makeAccount(fx.db.store);
    const r = await fx.db.store.admitJob(jobInput(account.id, 'u1'), Date.now());
    if (r.kind !== 'admitted') throw new Error(r.kind);
    const first = await fx.service.claim('w1', 'default', 0);
    if (first === null) throw new Error('not claimed');
    // The worker hung up before the answer: that lease goes back, and the attempt is not spent.
    expect(await fx.service.releaseUndelivered(first.job, 'w1')).toBe(true);
    expect(await fx.db.store.getJob(r.job.id)).toMatchObject({ status: 'queued', attempts: 1 });
    // Claimed again (a later claim of the same worker), then the first give-back arrives late: it ends nothing.
    await new Promise((resolve) => setTimeout(resolve, 5));
    const second = await fx.service.claim('w1', 'default', 0);
    expect(second?.job.attempts).toBe(2);
    expect(await fx.service.releaseUndelivered(first.job, 'w1')).toBe(false);
    expect(await fx.db.store.getJob(r.job.id)).toMatchObject({
      status: 'running',
      workerId: 'w1',
      attempts: 2,
    });
  });
});
