/**
 * An admission that claims for a worker waiting idle, in its own commit (Store.admitJob `claimFor`): on SQLite
 * the same fair pick a claim right after the admission would make; on Postgres no claim (claimsAtAdmission).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AdmitClaim, AdmitResult } from '../../src/store/contract.js';
import { BACKENDS, type Backend, type TestDb } from './backends.js';
import { jobInput, makeAccount, registerWorker } from './fixtures.js';

const claimFor: AdmitClaim = { workerId: 'w1', pool: 'default', leaseMs: 10_000, options: {} };

function admitted(result: AdmitResult): Extract<AdmitResult, { kind: 'admitted' }> {
  if (result.kind !== 'admitted') throw new Error(`expected admitted, got ${result.kind}`);
  return result;
}

function useDb(backend: Backend): () => TestDb {
  let db: TestDb | null = null;
  beforeEach(async () => {
    db = await backend.create();
    await registerWorker(db.store, 'w1', null);
  });
  afterEach(async () => {
    await db?.cleanup();
    db = null;
  });
  return () => {
    if (db === null) throw new Error('no database outside a test');
    return db;
  };
}

function backendNamed(name: Backend['name']): Backend {
  const found = BACKENDS.find((b) => b.name === name);
  if (found === undefined) throw new Error(`no ${name} backend`);
  return found;
}

describe.each(BACKENDS)('an admission claiming for a waiting worker on $name', (backend) => {
  const db = useDb(backend);

  it('claims where the store runs its transactions in this process (SQLite) and not on Postgres', () => {
    expect(db().store.claimsAtAdmission).toBe(backend.name === 'sqlite');
  });

  it('claims nothing for a refused admission, and changes nothing', async () => {
    const { store } = db();
    const account = await makeAccount(store, { max_active_jobs_per_user: 1 });
    const first = admitted(await store.admitJob(jobInput(account.id, 'u1'), 2_000));
    const refused = await store.admitJob(jobInput(account.id, 'u1'), 2_001, claimFor);
    expect(refused.kind).toBe('quota_exceeded');
    expect((await store.getJob(first.job.id))?.status).toBe('queued');
    expect(await store.reconcileCounters()).toEqual([]);
  });
});

describe('an admission claiming for a waiting worker on sqlite', () => {
  const db = useDb(backendNamed('sqlite'));

  it('claims the admitted job for the worker in the same commit', async () => {
    const { store } = db();
    const account = await makeAccount(store);
    const result = admitted(await store.admitJob(jobInput(account.id, 'u1'), 2_000, claimFor));
    expect(result.job.status).toBe('queued');
    expect(result.claim?.job).toMatchObject({
      id: result.job.id,
      status: 'running',
      workerId: 'w1',
      attempts: 1,
      leaseExpiresAt: 12_000,
    });
    expect(result.claim?.fileNodeAllowlist).toEqual([]);
    const stored = await store.getJob(result.job.id);
    expect(stored).toMatchObject({ status: 'running', workerId: 'w1', startedAt: 2_000 });
    expect((await store.listJobEvents(result.job.id, 0)).map((e) => e.type)).toEqual(['status']);
    expect((await store.usage(account.id, 'u1', 0)).activeJobs).toBe(1);
    expect(await store.reconcileCounters()).toEqual([]);
  });

  it('claims the fairest job, which may be an earlier one: the admitted job then stays queued', async () => {
    const { store } = db();
    const account = await makeAccount(store);
    const earlier = admitted(await store.admitJob(jobInput(account.id, 'u1'), 2_000));
    const result = admitted(await store.admitJob(jobInput(account.id, 'u2'), 2_001, claimFor));
    expect(result.claim?.job.id).toBe(earlier.job.id);
    expect((await store.getJob(result.job.id))?.status).toBe('queued');
    expect((await store.getJob(earlier.job.id))?.status).toBe('running');
    expect(await store.reconcileCounters()).toEqual([]);
  });

  it('answers a null claim when the worker can load nothing', async () => {
    const { store } = db();
    const account = await makeAccount(store);
    const elsewhere = jobInput(account.id, 'u1', { pool: 'gpu' });
    const result = admitted(await store.admitJob(elsewhere, 2_000, claimFor));
    expect(result.claim).toBeNull();
    expect((await store.getJob(result.job.id))?.status).toBe('queued');
  });
});

describe('an admission asked to claim on postgres', () => {
  const db = useDb(backendNamed('postgres'));

  it('admits without a claim, whatever is asked', async () => {
    const { store } = db();
    const account = await makeAccount(store);
    const result = admitted(await store.admitJob(jobInput(account.id, 'u1'), 2_000, claimFor));
    expect(result.claim).toBeUndefined();
    expect((await store.getJob(result.job.id))?.status).toBe('queued');
  });
});
