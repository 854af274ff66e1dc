/**
 * A worker of this process waiting idle is claimed for in the admission's own commit (workers/idle-claimers.ts,
 * the lifecycle's `admit`): its claim call answers that job without a claim of its own, nothing wakes the pool
 * for it, a refused admission leaves the worker waiting, and a wait that ends while an admission holds the
 * worker still hands over what that admission claimed. On Postgres the worker claims as before.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { BusMessage, EventBus } from '../../src/events/bus.js';
import { createLocalBus } from '../../src/events/local-bus.js';
import { JobLifecycle } from '../../src/jobs/lifecycle/job-lifecycle.js';
import type { Job } from '../../src/jobs/types.js';
import { openStorage } from '../../src/media/storage/open-storage.js';
import type { AdmitResult, Store } from '../../src/store/contract.js';
import { IdleClaimers } from '../../src/workers/idle-claimers.js';
import { WorkerService } from '../../src/workers/worker-service.js';
import { BACKENDS, type Backend, type TestDb } from '../store/backends.js';
import { jobInput, makeAccount, registerWorker } from '../store/fixtures.js';

interface Setup {
  db: TestDb;
  bus: EventBus;
  idle: IdleClaimers;
  service: WorkerService;
  lifecycle: JobLifecycle;
  claimed: Job[];
  messages: BusMessage[];
  accountId: string;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setUp(backend: Backend, limits: { max_active_jobs_per_user?: number } = {}): Promise<Setup> {
  const db = await backend.create();
  const dir = mkdtempSync(join(tmpdir(), 'arrakis-claim-at-admission-'));
  cleanups.push(async () => {
    await db.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });
  const bus = createLocalBus();
  const idle = new IdleClaimers();
  const claimed: Job[] = [];
  const service = new WorkerService({
    store: db.store,
    storage: openStorage(`file:${dir}`),
    bus,
    leaseMs: 10_000,
    maxAttempts: 3,
    idleClaimers: idle,
    onClaimed: (job) => claimed.push(job),
  });
  const lifecycle = new JobLifecycle({ store: db.store, bus, handoff: idle });
  const messages: BusMessage[] = [];
  bus.subscribe((m) => messages.push(m));
  await registerWorker(db.store, 'w1', null);
  const account = await makeAccount(db.store, limits);
  return { db, bus, idle, service, lifecycle, claimed, messages, accountId: account.id };
}

async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

function admittedId(result: AdmitResult): string {
  if (result.kind !== 'admitted') throw new Error(`expected admitted, got ${result.kind}`);
  return result.job.id;
}

function backendNamed(name: Backend['name']): Backend {
  const found = BACKENDS.find((b) => b.name === name);
  if (found === undefined) throw new Error(`no ${name} backend`);
  return found;
}

describe('claims at admission on sqlite', () => {
  const sqlite = backendNamed('sqlite');

  it('hands the admitted job to the waiting worker: no claim of its own, no job_ready', async () => {
    const s = await setUp(sqlite);
    const claims = vi.spyOn(s.db.store, 'claimJob');
    const claiming = s.service.claim('w1', 'default', 5_000, undefined, true);
    await until(() => s.idle.size === 1);
    const jobId = admittedId(await s.lifecycle.admit(jobInput(s.accountId, 'u1')));
    const claim = await claiming;
    expect(claim?.job).toMatchObject({ id: jobId, status: 'running', workerId: 'w1', attempts: 1 });
    // The worker's one claim was the empty one before its wait.
    expect(claims).toHaveBeenCalledTimes(1);
    expect(s.messages.filter((m) => m.kind === 'job_ready')).toEqual([]);
    // What a claim of its own would have announced: the observer, then SSE's `running`.
    expect(s.claimed.map((j) => j.id)).toEqual([jobId]);
    expect(s.messages).toContainEqual({ kind: 'job_event', jobId, ended: false });
    expect(s.idle.size).toBe(0);
    expect((await s.db.store.getJob(jobId))?.status).toBe('running');
  });

  it('leaves the worker waiting after a refused admission, and hands it the next job', async () => {
    const s = await setUp(sqlite, { max_active_jobs_per_user: 1 });
    // u1's one active job is in another pool: the waiting worker of pool default cannot take it.
    admittedId(await s.lifecycle.admit(jobInput(s.accountId, 'u1', { pool: 'gpu' })));
    const claiming = s.service.claim('w1', 'default', 5_000, undefined, true);
    await until(() => s.idle.size === 1);
    expect((await s.lifecycle.admit(jobInput(s.accountId, 'u1'))).kind).toBe('quota_exceeded');
    expect(s.idle.size).toBe(1);
    const jobId = admittedId(await s.lifecycle.admit(jobInput(s.accountId, 'u2')));
    expect((await claiming)?.job.id).toBe(jobId);
  });

  it('hands over what an admission holding the worker claimed, even when its wait ended meanwhile', async () => {
    const s = await setUp(sqlite);
    const store: Store = s.db.store;
    const admit = store.admitJob.bind(store);
    let open = (): void => {};
    const gate = new Promise<void>((resolve) => (open = resolve));
    vi.spyOn(store, 'admitJob').mockImplementation(async (input, now, claimFor) => {
      await gate;
      return await admit(input, now, claimFor);
    });
    const stop = new AbortController();
    const claiming = s.service.claim('w1', 'default', 5_000, stop.signal, true);
    await until(() => s.idle.size === 1);
    const admitting = s.lifecycle.admit(jobInput(s.accountId, 'u1'));
    await until(() => s.idle.size === 0);
    // The agent stops while the admission holding it is still in flight: the claim call waits for its answer.
    stop.abort();
    let answered = false;
    void claiming.then(() => (answered = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(answered).toBe(false);
    open();
    const jobId = admittedId(await admitting);
    expect((await claiming)?.job).toMatchObject({ id: jobId, workerId: 'w1', status: 'running' });
  });

  it('does not enlist a claim that does not ask for it (a remote agent): the pool is woken instead', async () => {
    const s = await setUp(sqlite);
    const claiming = s.service.claim('w1', 'default', 5_000);
    await new Promise((r) => setTimeout(r, 20));
    expect(s.idle.size).toBe(0);
    const jobId = admittedId(await s.lifecycle.admit(jobInput(s.accountId, 'u1')));
    expect((await claiming)?.job.id).toBe(jobId);
    expect(s.messages).toContainEqual({ kind: 'job_ready', pool: 'default' });
  });
});

describe('claims at admission on postgres', () => {
  it('reserves no worker: the waiting worker is woken by job_ready and claims the job itself', async () => {
    const s = await setUp(backendNamed('postgres'));
    const claims = vi.spyOn(s.db.store, 'claimJob');
    const claiming = s.service.claim('w1', 'default', 5_000, undefined, true);
    await until(() => s.idle.size === 1);
    const jobId = admittedId(await s.lifecycle.admit(jobInput(s.accountId, 'u1')));
    expect((await claiming)?.job.id).toBe(jobId);
    expect(claims).toHaveBeenCalledTimes(2);
    expect(s.messages).toContainEqual({ kind: 'job_ready', pool: 'default' });
  });
});
