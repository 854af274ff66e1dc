import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLocalBus } from '../../src/events/local-bus.js';
import { openStorage } from '../../src/media/storage/open-storage.js';
import type { ModelReport } from '../../src/workers/job-channel.js';
import { REFUSED_REWRITE_MS, WorkerService } from '../../src/workers/worker-service.js';
import { BACKENDS, type TestDb } from '../store/backends.js';
import { registerWorker } from '../store/fixtures.js';

const report = (prefetchFailed: string[]): ModelReport => ({
  available: [],
  warm: [],
  onDisk: [],
  canFetch: true,
  switches: 0,
  loads: [],
  prefetchFailed,
});

describe.each(BACKENDS)('given-up prefetch files reported to two replicas on $name', (backend) => {
  let db: TestDb;
  let dir: string;
  beforeEach(async () => {
    db = await backend.create();
    dir = mkdtempSync(join(tmpdir(), 'arrakis-refused-replicas-'));
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await db.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  const replica = () =>
    new WorkerService({
      store: db.store,
      storage: openStorage(`file:${dir}`),
      bus: createLocalBus(),
      leaseMs: 10_000,
      maxAttempts: 3,
    });

  it("a replica's cached list does not hide for long what another replica wrote since", async () => {
    await registerWorker(db.store, 'w1', null);
    const a = replica();
    const b = replica();
    const t = Date.now();
    const clock = vi.spyOn(Date, 'now').mockReturnValue(t);
    await a.reportModels('w1', report(['x.ckpt'])); // A writes [x]
    clock.mockReturnValue(t + 30 * 60_000);
    await b.reportModels('w1', report([])); // the refusal ran out, reported through B: []
    clock.mockReturnValue(t + 30 * 60_000 + REFUSED_REWRITE_MS);
    // Given up again, reported through A, whose cache still says [x] from the first refusal: written anyway.
    await a.reportModels('w1', report(['x.ckpt']));
    expect(await a.prefetchRefused('w1')).toEqual(['x.ckpt']);
  });
});
