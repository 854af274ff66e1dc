import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalBus } from '../../src/events/local-bus.js';
import { openStorage } from '../../src/media/storage/open-storage.js';
import { baseModel, type ModelRef } from '../../src/models/model-refs.js';
import { openStore } from '../../src/store/open.js';
import { WorkerService } from '../../src/workers/worker-service.js';
import { BACKENDS, type TestDb } from './backends.js';
import { jobInput, makeAccount, registerWorker } from './fixtures.js';

const ckpt = (name: string): ModelRef[] => [{ kind: 'checkpoint', name }];
const lora = (name: string): ModelRef => ({ kind: 'lora', name });

/** The model mixes of the parity test: base model first, after a LoRA, a UNET, no base kind, none at all. */
const MIXES: ModelRef[][] = [
  ckpt('a.ckpt'),
  [lora('x.safetensors'), ...ckpt('b.ckpt')],
  [lora('y.safetensors'), { kind: 'unet', name: 'u.sft' }, ...ckpt('c.ckpt')],
  [{ kind: 'vae', name: 'v.pt' }, lora('x.safetensors')],
  [],
  ckpt('a.ckpt'),
];

describe.each(BACKENDS)('fleetModelDemand on $name', (backend) => {
  let db: TestDb;
  beforeEach(async () => {
    db = await backend.create();
  });
  afterEach(async () => {
    await db.cleanup();
  });

  async function admitter() {
    const account = await makeAccount(db.store, { max_active_jobs_per_user: 500 });
    return async (user: string, pool: string, models: ModelRef[], at: number) => {
      const r = await db.store.admitJob(jobInput(account.id, user, { pool, models }), at);
      if (r.kind !== 'admitted') throw new Error(r.kind);
      return r.job.id;
    };
  }

  it("counts the base models of the pools' queued jobs and of recent arrivals, oldest first", async () => {
    const admit = await admitter();
    const t0 = Math.floor(Date.now() / 60_000) * 60_000 - 120_000;
    await admit('old', 'gpu', ckpt('old.ckpt'), t0 - 10_000);
    await admit('a', 'gpu', ckpt('a.ckpt'), t0 + 1_000);
    await admit('plain', 'gpu', [], t0 + 1_500);
    await admit('b', 'default', [...ckpt('b.ckpt'), lora('x.safetensors')], t0 + 2_000);
    await admit('a2', 'gpu', ckpt('a.ckpt'), t0 + 3_000);
    await admit('c', 'cpu', ckpt('c.ckpt'), t0 + 3_000);
    // A claimed job is no longer queued demand, but it still arrived.
    const claimed = await db.store.claimNext('w1', 'gpu', 60_000, t0 + 4_000);
    expect(claimed?.models).toEqual(ckpt('old.ckpt'));

    const gpu = await db.store.fleetModelDemand(['gpu', 'default'], t0);
    expect(gpu.queued).toEqual([
      { model: ckpt('a.ckpt')[0], count: 2 },
      { model: ckpt('b.ckpt')[0], count: 1 },
    ]);
    // Per model and minute, `at` the latest admission of the group.
    expect(gpu.arrivals).toEqual([
      { at: t0 + 2_000, model: ckpt('b.ckpt')[0], count: 1 },
      { at: t0 + 3_000, model: ckpt('a.ckpt')[0], count: 2 },
    ]);
    const cpu = await db.store.fleetModelDemand(['cpu'], t0 + 2_500);
    expect(cpu).toEqual({
      queued: [{ model: ckpt('c.ckpt')[0], count: 1 }],
      arrivals: [{ at: t0 + 3_000, model: ckpt('c.ckpt')[0], count: 1 }],
    });
    expect(await db.store.fleetModelDemand([], t0)).toEqual({ queued: [], arrivals: [] });
  });

  it("gives the same per-model counts as reading every job's models, for jobs before and after migration 011", async () => {
    const admit = await admitter();
    const t0 = Date.now() - 30 * 60_000;
    const ids: string[] = [];
    for (let i = 0; i < 60; i++) {
      const pool = i % 5 === 0 ? 'cpu' : 'gpu';
      ids.push(await admit(`u${i % 7}`, pool, MIXES[i % MIXES.length]!, t0 + i * 17_000));
    }
    for (let i = 0; i < 9; i++) await db.store.claimNext(`w${i}`, 'gpu', 60_000, Date.now());
    // The reference: each job's base model, from its own `models`.
    const expected = async (since: number) => {
      const queued = new Map<string, number>();
      const arrived = new Map<string, number>();
      for (const id of ids) {
        const job = (await db.store.getJob(id))!;
        const base = baseModel(job.models);
        if (base === null || job.pool !== 'gpu') continue;
        const key = `${base.kind}/${base.name}`;
        if (job.status === 'queued') queued.set(key, (queued.get(key) ?? 0) + 1);
        if (job.createdAt >= since) arrived.set(key, (arrived.get(key) ?? 0) + 1);
      }
      return { queued, arrived };
    };
    const counted = async (since: number) => {
      const found = await db.store.fleetModelDemand(['gpu'], since);
      const queued = new Map(found.queued.map((q) => [`${q.model.kind}/${q.model.name}`, q.count]));
      const arrived = new Map<string, number>();
      for (const a of found.arrivals) {
        const key = `${a.model.kind}/${a.model.name}`;
        arrived.set(key, (arrived.get(key) ?? 0) + a.count);
      }
      const ats = found.arrivals.map((a) => a.at);
      expect(ats).toEqual([...ats].sort((x, y) => x - y));
      return { queued, arrived };
    };
    const since = t0 + 200_000;
    const want = await expected(since);
    expect(want.queued.size).toBeGreaterThan(2);
    expect(await counted(since)).toEqual(want);

    // Rows written before migration 011: the migration fills their base model.
    const undo =
      backend.name === 'sqlite'
        ? `DROP TRIGGER jobs_base_model; DROP INDEX jobs_queued_base_model;
           ALTER TABLE jobs DROP COLUMN base_model_kind; ALTER TABLE jobs DROP COLUMN base_model_name;`
        : `DROP TRIGGER jobs_base_model ON jobs; DROP FUNCTION arrakis_job_base_model();
           DROP INDEX jobs_queued_base_model; ALTER TABLE jobs DROP COLUMN base_model_kind, DROP COLUMN base_model_name;`;
    await db.exec(
      `${undo} DROP TABLE worker_prefetch_refused; DELETE FROM arrakis_migrations WHERE id = 11;`,
    );
    const again = await openStore(db.url);
    try {
      await again.migrate();
    } finally {
      await again.close();
    }
    expect(await counted(since)).toEqual(want);
  });

  it('keeps a worker’s given-up prefetch files across a restart, from their first refusal, until they expire', async () => {
    await registerWorker(db.store, 'w1', null);
    await registerWorker(db.store, 'w2', null);
    const t = 1_000_000;
    const hour = 3_600_000;
    await db.store.setPrefetchRefused('w1', ['a.ckpt', 'b.ckpt'], t, t - hour);
    await db.store.setPrefetchRefused('w2', ['a.ckpt'], t + 5_000, t - hour);
    // Reported again with one more and one fewer: a.ckpt keeps its first refusal time.
    await db.store.setPrefetchRefused('w1', ['a.ckpt', 'c.ckpt'], t + 60_000, t - hour);
    expect(await db.store.listPrefetchRefused(['w1', 'w2', 'w3'], t)).toEqual(
      new Map([
        ['w1', ['a.ckpt', 'c.ckpt']],
        ['w2', ['a.ckpt']],
      ]),
    );
    expect(await db.store.listPrefetchRefused(['w1'], t + 1)).toEqual(new Map([['w1', ['c.ckpt']]]));

    // A control-plane restart: a new store and worker service on the same database still see the list.
    const restarted = await openStore(db.url);
    const dir = mkdtempSync(join(tmpdir(), 'arrakis-refused-'));
    try {
      const service = new WorkerService({
        store: restarted,
        storage: openStorage(`file:${dir}`),
        bus: createLocalBus(),
        leaseMs: 10_000,
        maxAttempts: 3,
      });
      expect(await service.prefetchRefused('w1', t + 60_000)).toEqual(['a.ckpt', 'c.ckpt']);
      // 30 minutes after its first refusal a file is no longer refused.
      expect(await service.prefetchRefused('w1', t + 30 * 60_000 + 1)).toEqual(['c.ckpt']);
      // The agent reports none given up any more: the list is cleared.
      await service.reportModels('w1', {
        available: [],
        warm: [],
        onDisk: [],
        canFetch: true,
        switches: 0,
        loads: [],
        prefetchFailed: [],
      });
      expect(await service.prefetchRefused('w1')).toEqual([]);
    } finally {
      await restarted.close();
      rmSync(dir, { recursive: true, force: true });
    }
    // Expired rows of any worker are swept at the next write.
    await db.store.setPrefetchRefused('w3', [], t + 2 * hour, t + hour);
    expect(await db.store.listPrefetchRefused(['w2'], 0)).toEqual(new Map());
  });

  it("stores and replaces a given-up list as long as the wire allows (past one statement's parameters)", async () => {
    await registerWorker(db.store, 'w1', null);
    const t = 1_000_000;
    // 22,000 names (3 parameters each): more bound parameters than one statement takes on SQLite (32,766) or Postgres (65,535).
    const names = Array.from({ length: 22_000 }, (_, i) => `m${String(i).padStart(5, '0')}.ckpt`);
    await db.store.setPrefetchRefused('w1', names, t, 0);
    expect(await db.store.listPrefetchRefused(['w1'], t)).toEqual(new Map([['w1', names]]));
    // Replaced by a list sharing half of it: the shared half keeps its first refusal time.
    const next = [...names.slice(11_000), ...names.map((n) => `n${n}`).slice(0, 11_000)];
    await db.store.setPrefetchRefused('w1', next, t + 1, 0);
    expect(await db.store.listPrefetchRefused(['w1'], t)).toEqual(new Map([['w1', [...next].sort()]]));
    expect((await db.store.listPrefetchRefused(['w1'], t + 1)).get('w1')).toHaveLength(11_000);
  });

  it("lists the given-up files of more workers than one statement's parameters allow", async () => {
    await registerWorker(db.store, 'w1', null);
    await registerWorker(db.store, 'w2', null);
    const t = 1_000_000;
    await db.store.setPrefetchRefused('w1', ['a.ckpt', 'b.ckpt'], t, 0);
    await db.store.setPrefetchRefused('w2', ['c.ckpt'], t, 0);
    // 70,000 ids, past the bound parameters of one statement on SQLite (32,766) and Postgres (65,535); the two
    // workers with rows fall in different slices, one named twice.
    const ids = Array.from({ length: 70_000 }, (_, i) => `wx${i}`);
    ids[10] = 'w1';
    ids[69_990] = 'w2';
    ids[40_000] = 'w1';
    expect(await db.store.listPrefetchRefused(ids, t)).toEqual(
      new Map([
        ['w1', ['a.ckpt', 'b.ckpt']],
        ['w2', ['c.ckpt']],
      ]),
    );
  });
});
