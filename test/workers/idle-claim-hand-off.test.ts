/**
 * An admission claims for a claim of this process that waits for work, in the admission's own commit
 * (src/jobs/lifecycle/idle-claimers.ts): on SQLite the job goes from the insert to its worker in one transaction,
 * with no `job_ready` and no second claim; on Postgres (no claim inside an admission) the waiting claim is
 * woken and claims the usual way. Either way the claim gets exactly what a claim of its own would get.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { BusMessage, EventBus } from '../../src/events/bus.js';
import { createLocalBus } from '../../src/events/local-bus.js';
import { IdleClaimers } from '../../src/jobs/lifecycle/idle-claimers.js';
import { JobLifecycle } from '../../src/jobs/lifecycle/job-lifecycle.js';
import { openStorage } from '../../src/media/storage/open-storage.js';
import type { Claim, Store } from '../../src/store/contract.js';
import { WorkerService } from '../../src/workers/worker-service.js';
import { BACKENDS, type TestDb } from '../store/backends.js';
import { jobInput, makeAccount } from '../store/fixtures.js';

describe.each(BACKENDS)('an admission and a claim waiting for work, on $name', (backend) => {
  let db: TestDb;
  let dir: string;
  let bus: EventBus;
  let idle: IdleClaimers;
  let service: WorkerService;
  let lifecycle: JobLifecycle;
  let published: BusMessage[];
  const inOneCommit = backend.name === 'sqlite';

  /** `db.store` with its admitJob replaced (the rest, its getters included, read from the store itself). */
  const storeWith = (admitJob: Store['admitJob']): Store =>
    new Proxy(db.store, {
      get: (target, key) => (key === 'admitJob' ? admitJob : Reflect.get(target, key, target)),
    });

  /** A lifecycle on the shared bus and waiting claims, admitting through `admitJob` instead of the store's. */
  const lifecycleWith = (admitJob: Store['admitJob']): JobLifecycle =>
    new JobLifecycle({ store: storeWith(admitJob), bus, idleClaimers: idle });

  beforeEach(async () => {
    db = await backend.create();
    dir = mkdtempSync(join(tmpdir(), 'arrakis-hand-off-'));
    bus = createLocalBus();
    published = [];
    bus.subscribe((m) => void published.push(m));
    idle = new IdleClaimers();
    const storage = openStorage(`file:${dir}`);
    service = new WorkerService({
      store: db.store,
      storage,
      bus,
      leaseMs: 10_000,
      maxAttempts: 3,
      idleClaimers: idle,
    });
    lifecycle = new JobLifecycle({ store: db.store, bus, idleClaimers: idle });
  });
  afterEach(async () => {
    await db.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * A claim of `workerId` that has found nothing and now waits (registered with `idle`). In a box: an async
   * function returning the claim's promise itself would wait for the claim to end.
   */
  async function waitingClaim(
    workerId: string,
    pool = 'default',
    signal?: AbortSignal,
  ): Promise<{ claim: Promise<Claim | null> }> {
    const before = idle.size;
    const claim = service.claim(workerId, pool, 20_000, signal);
    await vi.waitFor(() => expect(idle.size).toBeGreaterThan(before), { interval: 5 });
    return { claim };
  }
  /** `claim`, handed nothing by an admission, waits again, and the next admission (of `userId`) hands it its job. */
  async function expectWaitsOn(
    claim: Promise<Claim | null>,
    accountId: string,
    userId: string,
  ): Promise<void> {
    await vi.waitFor(() => expect(idle.size).toBe(1), { interval: 5 });
    const next = await lifecycle.admit(jobInput(accountId, userId));
    if (next.kind !== 'admitted') throw new Error(next.kind);
    expect((await claim)?.job.id).toBe(next.job.id);
  }
  const readyFor = (pool: string): BusMessage[] =>
    published.filter((m) => m.kind === 'job_ready' && m.pool === pool);

  it('hands the admitted job to the waiting claim: in the same commit on SQLite, through the bus on Postgres', async () => {
    const account = await makeAccount(db.store);
    const { claim } = await waitingClaim('w1');
    const r = await lifecycle.admit(jobInput(account.id, 'u1'));
    if (r.kind !== 'admitted') throw new Error(r.kind);
    const claimed = await claim;
    expect(claimed?.job).toMatchObject({ id: r.job.id, status: 'running', workerId: 'w1', attempts: 1 });
    expect(idle.size).toBe(0);
    if (inOneCommit) {
      // Claimed by the admission's own transaction: the pool was never woken, and the claim never ran again.
      expect(r.claimed?.job.id).toBe(r.job.id);
      expect(readyFor('default')).toEqual([]);
      expect(claimed?.job.startedAt).toBe(r.job.createdAt);
    } else {
      expect(r.claimed).toBeUndefined();
      expect(readyFor('default')).toHaveLength(1);
    }
    // The claim was announced as a claim of its own is (SSE shows `running`), and its events are in order.
    expect(published).toContainEqual({ kind: 'job_event', jobId: r.job.id, ended: false });
    const events = await db.store.listJobEvents(r.job.id, 0);
    expect(events.at(-1)).toMatchObject({ type: 'status', data: { status: 'running', attempts: 1 } });
    expect(await db.store.getJob(r.job.id)).toMatchObject({ status: 'running', workerId: 'w1' });
  });

  it("serves waiting claims in the order they began (on Postgres: one job each), and leaves another pool's claim waiting", async () => {
    const account = await makeAccount(db.store);
    const stop = new AbortController();
    const { claim: other } = await waitingClaim('w-other', 'gpu-b', stop.signal);
    const { claim: first } = await waitingClaim('w1');
    const { claim: second } = await waitingClaim('w2');
    const a = await lifecycle.admit(jobInput(account.id, 'u1'));
    if (a.kind !== 'admitted') throw new Error(a.kind);
    // On Postgres both claims are woken by the bus and race for the job: either may take it.
    if (inOneCommit) expect((await first)?.job.id).toBe(a.job.id);
    const b = await lifecycle.admit(jobInput(account.id, 'u2'));
    if (b.kind !== 'admitted') throw new Error(b.kind);
    const ids = [(await first)?.job.id, (await second)?.job.id];
    expect(inOneCommit ? ids : [...ids].sort()).toEqual(
      inOneCommit ? [a.job.id, b.job.id] : [a.job.id, b.job.id].sort(),
    );
    expect(idle.size).toBe(1);
    stop.abort();
    expect(await other).toBeNull();
    expect(idle.size).toBe(0);
  });

  it('answers a claim it took with nothing when the admission is refused, and the claim waits on', async () => {
    const account = await makeAccount(db.store, { max_active_jobs_per_user: 1 });
    const running = await lifecycle.admit(jobInput(account.id, 'u1'));
    if (running.kind !== 'admitted') throw new Error(running.kind);
    expect((await service.claim('w1', 'default', 0))?.job.id).toBe(running.job.id);
    const { claim } = await waitingClaim('w2');
    // u1's limit is reached: nothing is admitted, and the claim taken for it is answered with nothing.
    expect((await lifecycle.admit(jobInput(account.id, 'u1'))).kind).toBe('quota_exceeded');
    await expectWaitsOn(claim, account.id, 'u2');
  });

  it('hands nothing to a claim that stopped: the job stays queued and wakes the pool', async () => {
    const account = await makeAccount(db.store);
    const stop = new AbortController();
    const { claim } = await waitingClaim('w1', 'default', stop.signal);
    stop.abort();
    expect(await claim).toBeNull();
    expect(idle.size).toBe(0);
    const r = await lifecycle.admit(jobInput(account.id, 'u1'));
    if (r.kind !== 'admitted') throw new Error(r.kind);
    expect(r.claimed).toBeUndefined();
    expect(readyFor('default')).toHaveLength(1);
    expect(await db.store.getJob(r.job.id)).toMatchObject({ status: 'queued', attempts: 0 });
  });

  it('takes no claim for a job whose URL inputs are still to fetch', async () => {
    const account = await makeAccount(db.store);
    const stop = new AbortController();
    const { claim } = await waitingClaim('w1', 'default', stop.signal);
    const r = await lifecycle.admit(
      jobInput(account.id, 'u1', {
        inputs: [{ name: 'image', url: 'https://example.com/a.png', filename: 'a.png' }],
        inputsReady: false,
      }),
    );
    if (r.kind !== 'admitted') throw new Error(r.kind);
    expect(r.claimed).toBeUndefined();
    expect(idle.size).toBe(1);
    stop.abort();
    expect(await claim).toBeNull();
  });

  it('answers the claim it took with nothing when the admission throws, and the claim waits on', async () => {
    const account = await makeAccount(db.store);
    const failing = lifecycleWith(() => Promise.reject(new Error('database away')));
    const { claim } = await waitingClaim('w1');
    await expect(failing.admit(jobInput(account.id, 'u1'))).rejects.toThrow('database away');
    await expectWaitsOn(claim, account.id, 'u1');
  });

  it("gives a claim whose wait ran out while an admission held it that admission's claim", async () => {
    const account = await makeAccount(db.store);
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const slow = lifecycleWith(async (input, now, claimFor) => {
      await gate;
      return await db.store.admitJob(input, now, claimFor);
    });
    const claim = service.claim('w1', 'default', 150);
    await vi.waitFor(() => expect(idle.size).toBe(1), { interval: 5 });
    const admitted = slow.admit(jobInput(account.id, 'u1'));
    // The claim's 150 ms run out while the admission's commit is held.
    await new Promise((resolve) => setTimeout(resolve, 300));
    open();
    const r = await admitted;
    if (r.kind !== 'admitted') throw new Error(r.kind);
    if (inOneCommit) {
      // It was taken before its time ran out: it waits for the commit and gets the lease it made.
      expect((await claim)?.job).toMatchObject({ id: r.job.id, status: 'running', workerId: 'w1' });
    } else {
      expect(await claim).toBeNull();
      expect(await db.store.getJob(r.job.id)).toMatchObject({ status: 'queued' });
    }
  });

  it('undoes a claim that fails inside the admission alone: the job is admitted and queued', async () => {
    const account = await makeAccount(db.store);
    const request = { workerId: 'w1', pool: 'default', leaseMs: 10_000, options: {} };
    if (!db.store.claimsInAdmission) {
      const r = await db.store.admitJob(jobInput(account.id, 'u1'), Date.now(), request);
      expect(r).toMatchObject({ kind: 'admitted' });
      expect((r as { claimed?: unknown }).claimed).toBeUndefined();
      return;
    }
    // The claim's last write fails, after its lease and its user's running count were written.
    await db.exec(`CREATE TRIGGER refuse_running BEFORE INSERT ON job_events
      WHEN NEW.type = 'status' AND json_extract(NEW.data, '$.status') = 'running'
      BEGIN SELECT RAISE(ABORT, 'refused'); END`);
    const r = await db.store.admitJob(jobInput(account.id, 'u1'), Date.now(), request);
    if (r.kind !== 'admitted') throw new Error(r.kind);
    expect(r.claimed).toBeNull();
    expect(await db.store.getJob(r.job.id)).toMatchObject({ status: 'queued', attempts: 0, workerId: null });
    await db.exec('DROP TRIGGER refuse_running');
    // Nothing of the undone claim is left: the next claim is the job's first, its only `running` event.
    expect((await service.claim('w1', 'default', 0))?.job).toMatchObject({ id: r.job.id, attempts: 1 });
    const running = (await db.store.listJobEvents(r.job.id, 0)).filter(
      (e) => e.type === 'status' && (e.data as { status?: string }).status === 'running',
    );
    expect(running).toHaveLength(1);
  });

  it("answers the claim it took before the admission's observer runs, so an observer that throws loses no lease", async () => {
    const account = await makeAccount(db.store);
    const throwing = new JobLifecycle({
      store: db.store,
      bus,
      idleClaimers: idle,
      observer: {
        admitted: () => {
          throw new Error('observer failed');
        },
      },
    });
    const { claim } = await waitingClaim('w1');
    await expect(throwing.admit(jobInput(account.id, 'u1'))).rejects.toThrow('observer failed');
    // On SQLite the commit leased it to w1; on Postgres (no claim inside the admission) w1's poll finds it.
    const claimed = await claim;
    expect(claimed?.job).toMatchObject({ status: 'running', workerId: 'w1' });
  });
});

describe('IdleClaimers', () => {
  const request = (workerId: string, pool = 'default') => ({ workerId, pool, leaseMs: 1_000, options: {} });

  it('serves the claim that began first, though it waits again behind later ones after each fallback poll', async () => {
    const idle = new IdleClaimers();
    const first = idle.ticket();
    const second = idle.ticket();
    const a = idle.wait(request('w1'), first, () => {});
    idle.wait(request('w2'), second, () => {});
    // w1's period ends: it leaves and waits again, now behind w2 in the list.
    expect(await a.leave()).toBeNull();
    const again = idle.wait(request('w1'), first, () => {});
    expect(idle.take('gpu-b')).toBeNull();
    const taken = idle.take('default');
    expect(taken?.request.workerId).toBe('w1');
    // Taken: its side waits for the answer, which comes once and wakes it.
    const answered = again.leave();
    taken?.hand(null);
    taken?.hand({ job: {} as Claim['job'], fileNodeAllowlist: [] });
    expect(await answered).toBeNull();
    expect(idle.size).toBe(1);
  });
});
