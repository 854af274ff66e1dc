import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ModelRef } from '../../src/models/model-refs.js';
import { BACKENDS, type TestDb } from './backends.js';
import { jobInput, makeAccount } from './fixtures.js';

const ckpt = (name: string): ModelRef[] => [{ kind: 'checkpoint', name }];

describe.each(BACKENDS)('fleetModelDemand on $name', (backend) => {
  let db: TestDb;
  beforeEach(async () => {
    db = await backend.create();
  });
  afterEach(async () => {
    await db.cleanup();
  });

  it("lists the models of the pools' queued jobs and of recent arrivals, oldest first", async () => {
    const account = await makeAccount(db.store, { max_active_jobs_per_user: 20 });
    const t0 = Date.now() - 60_000;
    const admit = async (user: string, pool: string, models: ModelRef[], at: number) => {
      const r = await db.store.admitJob(jobInput(account.id, user, { pool, models }), at);
      if (r.kind !== 'admitted') throw new Error(r.kind);
      return r.job.id;
    };
    await admit('old', 'gpu', ckpt('old.ckpt'), t0 - 10_000);
    await admit('a', 'gpu', ckpt('a.ckpt'), t0 + 1_000);
    await admit('plain', 'gpu', [], t0 + 1_500);
    await admit('b', 'default', [...ckpt('b.ckpt'), { kind: 'lora', name: 'x.safetensors' }], t0 + 2_000);
    await admit('c', 'cpu', ckpt('c.ckpt'), t0 + 3_000);
    // A claimed job is no longer queued demand, but it still arrived.
    const claimed = await db.store.claimNext('w1', 'gpu', 60_000, t0 + 4_000);
    expect(claimed?.models).toEqual(ckpt('old.ckpt'));

    const gpu = await db.store.fleetModelDemand(['gpu', 'default'], t0);
    expect(gpu.queued).toEqual([
      ckpt('a.ckpt'),
      [...ckpt('b.ckpt'), { kind: 'lora', name: 'x.safetensors' }],
    ]);
    expect(gpu.arrivals).toEqual([
      { at: t0 + 1_000, models: ckpt('a.ckpt') },
      { at: t0 + 2_000, models: [...ckpt('b.ckpt'), { kind: 'lora', name: 'x.safetensors' }] },
    ]);
    const cpu = await db.store.fleetModelDemand(['cpu'], t0 + 2_500);
    expect(cpu).toEqual({ queued: [ckpt('c.ckpt')], arrivals: [{ at: t0 + 3_000, models: ckpt('c.ckpt') }] });
  });
});
