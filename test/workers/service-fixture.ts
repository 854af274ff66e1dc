/**
 * The worker-service tests' fixture: before each test a fresh database of `backend`, a file storage in a temp
 * folder, a local bus and a WorkerService on them (lease 10 s, 3 attempts); after it, all of them removed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, vi } from 'vitest';
import type { EventBus } from '../../src/events/bus.js';
import { createLocalBus } from '../../src/events/local-bus.js';
import type { ObjectStorage } from '../../src/media/storage/contract.js';
import { openStorage } from '../../src/media/storage/open-storage.js';
import type { OutputFile } from '../../src/workers/job-channel.js';
import { WorkerService } from '../../src/workers/worker-service.js';
import { LocalJobChannel } from '../../src/agent/local-job-channel.js';
import { jobInput, makeAccount } from '../store/fixtures.js';
import { expect } from 'vitest';
import type { Backend, TestDb } from '../store/backends.js';

export interface WorkerServiceFixture {
  readonly db: TestDb;
  readonly storage: ObjectStorage;
  readonly bus: EventBus;
  readonly service: WorkerService;
}

/** A small PNG-typed output file of node 9. */
export const outputFile: OutputFile = {
  seq: 0,
  nodeId: '9',
  filename: 'out.png',
  contentType: 'image/png',
  bytes: Buffer.from('png'),
  type: 'output',
};

/** Registers the fixture's hooks in the calling `describe`; read its fields inside tests. */
export function useWorkerService(backend: Backend): WorkerServiceFixture {
  let current: (WorkerServiceFixture & { dir: string }) | null = null;
  beforeEach(async () => {
    const db = await backend.create();
    const dir = mkdtempSync(join(tmpdir(), 'arrakis-worker-service-'));
    const storage = openStorage(`file:${dir}`);
    const bus = createLocalBus();
    const service = new WorkerService({ store: db.store, storage, bus, leaseMs: 10_000, maxAttempts: 3 });
    current = { db, dir, storage, bus, service };
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    if (current === null) return;
    await current.db.cleanup();
    rmSync(current.dir, { recursive: true, force: true });
    current = null;
  });
  const get = (): WorkerServiceFixture => {
    if (current === null) throw new Error('the worker-service fixture is used outside a test');
    return current;
  };
  return {
    get db() {
      return get().db;
    },
    get storage() {
      return get().storage;
    },
    get bus() {
      return get().bus;
    },
    get service() {
      return get().service;
    },
  };
}

/** An in-process agent's channel on the fixture's service, registered as `workerId` in the default pool. */
export async function registeredChannel(
  fx: WorkerServiceFixture,
  workerId: string,
): Promise<LocalJobChannel> {
  const channel = new LocalJobChannel({ service: fx.service, bus: fx.bus, workerId });
  await channel.register({ name: workerId, pool: 'default', comfyUrl: 'http://127.0.0.1:1' });
  return channel;
}

/** One job of a new account's user u1, admitted and then claimed through the service by `workerId`. */
export async function claimedThroughService(
  fx: WorkerServiceFixture,
  workerId: string,
): Promise<{ accountId: string; jobId: string }> {
  const account = await makeAccount(fx.db.store);
  const r = await fx.db.store.admitJob(jobInput(account.id, 'u1'), Date.now());
  if (r.kind !== 'admitted') throw new Error('not admitted');
  expect((await fx.service.claim(workerId, 'default', 0))?.job.id).toBe(r.job.id);
  return { accountId: account.id, jobId: r.job.id };
}
