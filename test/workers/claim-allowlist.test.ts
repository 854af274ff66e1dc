/**
 * A claimed job carries its own account's file-node allowlist, read at that claim (a change applies to the next
 * job claimed) from that one column, by the claim's own statement or transaction: the claim does not read the
 * whole account, nor the list in a read of its own.
 */
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { LocalJobChannel } from '../../src/agent/local-job-channel.js';
import { BACKENDS } from '../store/backends.js';
import { jobInput, makeAccount } from '../store/fixtures.js';
import { registeredChannel, useWorkerService } from './service-fixture.js';

describe.each(BACKENDS)('the file-node allowlist of a claim on $name', (backend) => {
  const fx = useWorkerService(backend);
  let channel: LocalJobChannel;
  beforeEach(async () => {
    channel = await registeredChannel(fx, 'w1');
  });

  /** Admits one job of `accountId`, claims it and answers the allowlist the claim carried. */
  async function claimOf(accountId: string): Promise<string[] | undefined> {
    const r = await fx.db.store.admitJob(jobInput(accountId, 'u1'), Date.now());
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
    const a = await makeAccount(fx.db.store);
    const b = await makeAccount(fx.db.store);
    await fx.db.store.updateAccount(a.id, { fileNodeAllowlist: ['LoadImageMask'] });
    await fx.db.store.updateAccount(b.id, { fileNodeAllowlist: ['VHS_LoadVideo'] });
    const getAccount = vi.spyOn(fx.db.store, 'getAccount');

    expect(await claimOf(a.id)).toEqual(['LoadImageMask']);
    expect(await claimOf(b.id)).toEqual(['VHS_LoadVideo']);
    await fx.db.store.updateAccount(a.id, { fileNodeAllowlist: [] });
    expect(await claimOf(a.id)).toEqual([]);
    expect(await claimOf(b.id)).toEqual(['VHS_LoadVideo']);
    expect(getAccount).not.toHaveBeenCalled();
  });
});
