/**
 * A worker already told to stop claims nothing: a job it took would only be given back at once (a `running` and
 * a requeue written around it, and an attempt number spent).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalBus } from '../../src/events/local-bus.js';
import { openStorage } from '../../src/media/storage/open-storage.js';
import { WorkerService } from '../../src/workers/worker-service.js';
import { BACKENDS, type TestDb } from '../store/backends.js';
import { jobInput, makeAccount } from '../store/fixtures.js';

describe.each(BACKENDS)('a claim with its stop signal fired, on $name', (backend) => {
  let db: TestDb;
  let dir: string;
  let service: WorkerService;
  beforeEach(async () => {
    db = await backend.create();
    dir = mkdtempSync(join(tmpdir(), 'arrakis-claim-stopped-'));
    service = new WorkerService({
      store: db.store,
      storage: openStorage(`file:${dir}`),
      bus: createLocalBus(),
      leaseMs: 10_000,
      maxAttempts: 3,
    });
  });
  afterEach(async () => {
    await db.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('takes no job, which stays queued with no attempt spent', async () => {
    const account = await makeAccount(db.store);
    const r = await db.store.admitJob(jobInput(account.id, 'u1'), Date.now());
    if (r.kind !== 'admitted') throw new Error(r.kind);
    const stopped = AbortSignal.abort();
    expect(await service.claim('w1', 'default', 0, stopped)).toBeNull();
    expect(await service.claim('w1', 'default', 5_000, stopped)).toBeNull();
    expect(await db.store.getJob(r.job.id)).toMatchObject({ status: 'queued', attempts: 0 });
    expect((await service.claim('w1', 'default', 0))?.id).toBe(r.job.id);
  });
});
