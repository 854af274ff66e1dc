/** Background duties: retention deletes stored files of old jobs; lease sweeps requeue and notify. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalBus } from '../../src/events/local-bus.js';
import type { BusMessage } from '../../src/events/bus.js';
import { Maintenance } from '../../src/jobs/maintenance.js';
import { openStorage } from '../../src/media/storage/open-storage.js';
import type { ObjectStorage } from '../../src/media/storage/contract.js';
import type { Store } from '../../src/store/contract.js';
import { openStore } from '../../src/store/open.js';
import { jobInput, makeAccount } from '../store/fixtures.js';

const DAY = 86_400_000;
let dir: string;
let store: Store;
let storage: ObjectStorage;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'arrakis-maint-'));
  store = await openStore(`sqlite:${join(dir, 'a.db')}`);
  await store.migrate();
  storage = openStorage(`file:${join(dir, 'objects')}`);
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function finishedJob(finishedAt: number): Promise<string> {
  const account = await makeAccount(store, { max_active_jobs_per_user: 100 });
  await store.admitJob(jobInput(account.id, 'u'), finishedAt - 1000);
  const job = await store.claimNext('w', 'default', 60_000, finishedAt - 500);
  const key = `jobs/${job!.id}/outputs/0-out.png`;
  await storage.put(key, Buffer.from('png'), 'image/png');
  await store.completeJob(
    job!.id,
    'w',
    [{ index: 0, nodeId: '3', filename: 'out.png', contentType: 'image/png', size: 3, objectKey: key }],
    finishedAt,
  );
  return job!.id;
}

describe('Maintenance', () => {
  it('retention deletes the files of jobs that ended before the window, once, and keeps newer ones', async () => {
    const now = 100 * DAY;
    const old = await finishedJob(now - 8 * DAY);
    const recent = await finishedJob(now - 1 * DAY);
    const m = new Maintenance({
      store,
      storage,
      bus: createLocalBus(),
      maxAttempts: 3,
      leaseMs: 30_000,
      retentionDays: 7,
      now: () => now,
    });
    expect(await m.sweep()).toBe(1);
    expect(await storage.get(`jobs/${old}/outputs/0-out.png`)).toBeNull();
    expect(await storage.get(`jobs/${recent}/outputs/0-out.png`)).not.toBeNull();
    expect((await store.getJob(old))!.outputs).toHaveLength(1);
    expect(await m.sweep()).toBe(0);
  });

  it('an expired lease is requeued and announced on the bus', async () => {
    const account = await makeAccount(store);
    await store.admitJob(jobInput(account.id, 'u'), 1000);
    const job = await store.claimNext('w', 'default', 1000, 2000);
    const bus = createLocalBus();
    const seen: BusMessage[] = [];
    bus.subscribe((msg) => seen.push(msg));
    const m = new Maintenance({
      store,
      storage,
      bus,
      maxAttempts: 3,
      leaseMs: 1000,
      retentionDays: 0,
      now: () => 10_000,
    });
    expect(await m.expireLeases()).toBe(1);
    await new Promise((r) => setImmediate(r));
    expect((await store.getJob(job!.id))!.status).toBe('queued');
    expect(seen).toContainEqual({ kind: 'job_ready', pool: 'default' });
    expect(seen.some((msg) => msg.kind === 'job_event' && msg.jobId === job!.id)).toBe(true);
  });

  it('a job whose expired lease ends it failed keeps none of the files its worker stored', async () => {
    const account = await makeAccount(store);
    await store.admitJob(jobInput(account.id, 'u'), 1000);
    const job = await store.claimNext('w', 'default', 1000, 2000);
    const key = `jobs/${job!.id}/outputs/1.0-out.png`;
    await storage.put(key, Buffer.from('png'), 'image/png');
    await storage.put(`jobs/${job!.id}/inputs/face.png`, Buffer.from('in'), 'image/png');
    const m = new Maintenance({
      store,
      storage,
      bus: createLocalBus(),
      maxAttempts: 1,
      leaseMs: 1000,
      retentionDays: 0,
      now: () => 10_000,
    });
    expect(await m.expireLeases()).toBe(1);
    expect((await store.getJob(job!.id))!.status).toBe('failed');
    expect(await storage.get(key)).toBeNull();
    expect(await storage.get(`jobs/${job!.id}/inputs/face.png`)).not.toBeNull();
  });
});
