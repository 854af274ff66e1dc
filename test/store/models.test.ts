import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ModelRef } from '../../src/models/model-refs.js';
import { BACKENDS, type TestDb } from './backends.js';
import { jobInput, makeAccount, registerWorker, type ReportedModels } from './fixtures.js';

const ckpt = (name: string): ModelRef[] => [{ kind: 'checkpoint', name }];
const workflow = (name: string) => ({
  '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: name } },
});

describe.each(BACKENDS)('model placement and affinity on $name', (backend) => {
  let db: TestDb;
  beforeEach(async () => {
    db = await backend.create();
  });
  afterEach(async () => {
    await db.cleanup();
  });

  const worker = (id: string, models: ReportedModels | null): Promise<void> =>
    registerWorker(db.store, id, models);
  const state = (p: Partial<ReportedModels>): ReportedModels => ({
    available: [],
    warm: [],
    onDisk: [],
    canFetch: false,
    switches: 0,
    ...p,
  });

  it('stores the job models and the worker state', async () => {
    const account = await makeAccount(db.store);
    const r = await db.store.admitJob(jobInput(account.id, 'A', { models: ckpt('a.safetensors') }), 1_000);
    if (r.kind !== 'admitted') throw new Error(r.kind);
    expect((await db.store.getJob(r.job.id))?.models).toEqual(ckpt('a.safetensors'));
    await worker('w1', state({ available: ['a'], warm: ['a'], onDisk: ['b'], canFetch: true, switches: 3 }));
    expect((await db.store.getWorker('w1'))?.models).toEqual({
      known: true,
      available: ['a'],
      warm: ['a'],
      onDisk: ['b'],
      canFetch: true,
      switches: 3,
      prefetch: [],
    });
    await db.store.setWorkerPrefetch('w1', ckpt('next.safetensors'));
    expect((await db.store.getWorker('w1'))?.models?.prefetch).toEqual(ckpt('next.safetensors'));
    await worker('w2', null);
    expect((await db.store.getWorker('w2'))?.models?.known).toBe(false);
  });

  it('never gives a job to a worker that cannot load or fetch its file', async () => {
    const account = await makeAccount(db.store);
    await db.store.admitJob(jobInput(account.id, 'A', { models: ckpt('rare.ckpt') }), 1_000);
    await worker('plain', state({ available: ['common.ckpt'] }));
    await worker('cache', state({ available: ['common.ckpt'], canFetch: true }));
    expect(await db.store.claimNext('plain', 'default', 60_000, 2_000)).toBeNull();
    // A worker with a cache fetches only registered files.
    expect(await db.store.claimNext('cache', 'default', 60_000, 2_000)).toBeNull();
    const file = {
      name: 'rare.ckpt',
      kind: 'checkpoint' as const,
      url: 'https://x/r',
      sha256: 'a'.repeat(64),
      size: 3,
    };
    expect(await db.store.createModelFile(file, 1_500)).toBe(true);
    expect(await db.store.claimNext('plain', 'default', 60_000, 2_000)).toBeNull();
    expect((await db.store.claimNext('cache', 'default', 60_000, 2_000))?.models).toEqual(ckpt('rare.ckpt'));
  });

  it('a worker that never reported models, and jobs without models, behave as before', async () => {
    const account = await makeAccount(db.store);
    await db.store.admitJob(jobInput(account.id, 'A', { models: ckpt('x') }), 1_000);
    await db.store.admitJob(jobInput(account.id, 'B'), 1_001);
    await worker('known', state({}));
    expect((await db.store.claimNext('known', 'default', 60_000, 2_000))?.userId).toBe('B');
    expect((await db.store.claimNext('unknown', 'default', 60_000, 2_000))?.userId).toBe('A');
  });

  it('a free worker prefers the fair job whose model it holds, VRAM before disk, within the bound', async () => {
    const account = await makeAccount(db.store, { max_active_jobs_per_user: 50 });
    const admit = async (user: string, model: string, at: number): Promise<string> => {
      const r = await db.store.admitJob(
        jobInput(account.id, user, { models: ckpt(model), workflow: workflow(model) }),
        at,
      );
      if (r.kind !== 'admitted') throw new Error(r.kind);
      return r.job.id;
    };
    const a1 = await admit('U', 'A', 1_000);
    const c1 = await admit('U', 'C', 1_001);
    const b1 = await admit('U', 'B', 1_002);
    await worker('w', state({ available: ['A', 'B', 'C'], warm: ['B'], onDisk: ['C'] }));
    const opts = { affinityMaxDelayMs: 10_000 };
    // Fair order is a1, c1, b1; the worker holds B in VRAM, then C on disk.
    expect((await db.store.claimNext('w', 'default', 60_000, 2_000, opts))?.id).toBe(b1);
    // Affinity off: plain fair order.
    const off = await db.store.claimNext('w2', 'default', 60_000, 2_001);
    expect(off?.id).toBe(a1);
    expect((await db.store.claimNext('w', 'default', 60_000, 2_002, opts))?.id).toBe(c1);
  });

  it('affinity passes over the fair pick for at most the bound', async () => {
    const account = await makeAccount(db.store, { max_active_jobs_per_user: 50 });
    const ids: string[] = [];
    for (const [i, m] of ['A', 'B', 'B', 'B'].entries()) {
      const r = await db.store.admitJob(jobInput(account.id, 'U', { models: ckpt(m) }), 1_000 + i);
      if (r.kind !== 'admitted') throw new Error(r.kind);
      ids.push(r.job.id);
    }
    await worker('w', state({ available: ['A', 'B'], warm: ['B'] }));
    const opts = { affinityMaxDelayMs: 10_000 };
    expect((await db.store.claimNext('w', 'default', 60_000, 2_000, opts))?.id).toBe(ids[1]);
    expect((await db.store.claimNext('w', 'default', 60_000, 11_999, opts))?.id).toBe(ids[2]);
    // The A job was first passed over at 2 000: from 12 000 on it goes first.
    expect((await db.store.claimNext('w', 'default', 60_000, 12_000, opts))?.id).toBe(ids[0]);
  });

  it('registry: create, conflict, list, delete', async () => {
    const file = {
      name: 'm.safetensors',
      kind: 'lora' as const,
      url: 's3://b/m',
      sha256: 'b'.repeat(64),
      size: 10,
    };
    expect(await db.store.createModelFile(file, 5)).toBe(true);
    expect(await db.store.createModelFile(file, 6)).toBe(false);
    expect(await db.store.getModelFile('m.safetensors')).toEqual({ ...file, createdAt: 5 });
    expect((await db.store.listModelFiles(['m.safetensors', 'x'])).map((f) => f.name)).toEqual([
      'm.safetensors',
    ]);
    expect(await db.store.listModelFiles([])).toEqual([]);
    expect(await db.store.deleteModelFile('m.safetensors')).toBe(true);
    expect(await db.store.deleteModelFile('m.safetensors')).toBe(false);
  });

  it('registry: looks up more names than one statement binds (SQLite 32,766, Postgres 65,535)', async () => {
    const file = (name: string) => ({
      name,
      kind: 'lora' as const,
      url: `s3://b/${name}`,
      sha256: 'c'.repeat(64),
      size: 1,
    });
    // Registered names spread over the list, so they fall in different slices; one is asked for twice.
    for (const name of ['m-00000', 'm-35000', 'm-69999'])
      expect(await db.store.createModelFile(file(name), 5)).toBe(true);
    const names = Array.from({ length: 70_000 }, (_, i) => `m-${String(i).padStart(5, '0')}`);
    const found = await db.store.listModelFiles([...names, 'm-35000', 'unknown']);
    expect(found.map((f) => f.name)).toEqual(['m-00000', 'm-35000', 'm-69999']);
    expect(found[1]).toEqual({ ...file('m-35000'), createdAt: 5 });
  });
});
