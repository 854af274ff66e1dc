/**
 * A claimed job carries its own account's file-node allowlist, read at that claim (a change applies to the next
 * job claimed) from that one column: the claim does not read the whole account.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LocalJobChannel } from '../../src/agent/local-job-channel.js';
import { createLocalBus } from '../../src/events/local-bus.js';
import { openStorage } from '../../src/media/storage/open-storage.js';
import { WorkerService } from '../../src/workers/worker-service.js';
import { BACKENDS, type TestDb } from '../store/backends.js';
import { jobInput, makeAccount } from '../store/fixtures.js';

describe.each(BACKENDS)('the file-node allowlist of a claim on $name', (backend) => {
  let db: TestDb;
  let dir: string;
  let channel: LocalJobChannel;
  beforeEach(async () => {
    db = await backend.create();
    dir = mkdtempSync(join(tmpdir(), 'arrakis-claim-allowlist-'));
    const bus = createLocalBus();
    const service = new WorkerService({
      store: db.store,
      storage: openStorage(`file:${dir}`),
      bus,
      leaseMs: 10_000,
      maxAttempts: 3,
    });
    channel = new LocalJobChannel({ service, bus, workerId: 'w1' });
    await channel.register({ name: 'w1', pool: 'default', comfyUrl: 'http://127.0.0.1:1' });
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await db.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Admits one job of `accountId`, claims it and answers the allowlist the claim carried. */
  async function claimOf(accountId: string): Promise<string[] | undefined> {
    const r = await db.store.admitJob(jobInput(accountId, 'u1'), Date.now());
    if (r.kind !== 'admitted') throw new Error('not admitted');
    const leased = await channel.claim(0);
    expect(leased?.id).toBe(r.job.id);
    // Ended at once, so the next claim finds the next job.
    expect((await channel.fail(r.job.id, { code: 'execution_error', message: 'done' })).kind).toBe(
      'finished',
    );
    return leased?.fileNodeAllowlist;
  }

  it('is the claimed job’s account’s, as it is at that claim, read without the whole account', async () => {
    const a = await makeAccount(db.store);
    const b = await makeAccount(db.store);
    await db.store.updateAccount(a.id, { fileNodeAllowlist: ['LoadImageMask'] });
    await db.store.updateAccount(b.id, { fileNodeAllowlist: ['VHS_LoadVideo'] });
    const getAccount = vi.spyOn(db.store, 'getAccount');

    expect(await claimOf(a.id)).toEqual(['LoadImageMask']);
    expect(await claimOf(b.id)).toEqual(['VHS_LoadVideo']);
    await db.store.updateAccount(a.id, { fileNodeAllowlist: [] });
    expect(await claimOf(a.id)).toEqual([]);
    expect(await claimOf(b.id)).toEqual(['VHS_LoadVideo']);
    expect(getAccount).not.toHaveBeenCalled();
  });
});
