/**
 * A claim on an empty queue takes no write lock (claims.ts: one indexed read first). An idle worker's claims,
 * and the claim every worker makes right after a job, then never queue behind a writer or hold up one: shown
 * on SQLite by another connection holding the database's write lock, which a write transaction would wait out
 * (busy_timeout, 5 s) and then fail on.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/contract.js';
import { openStore } from '../../src/store/open.js';
import { jobInput, makeAccount } from './fixtures.js';

const LEASE_MS = 30_000;

let dir: string;
let store: Store;
let writer: Database.Database;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'arrakis-empty-claim-'));
  store = await openStore(`sqlite:${join(dir, 'test.db')}`);
  await store.migrate();
  writer = new Database(join(dir, 'test.db'));
});

afterEach(async () => {
  if (writer.inTransaction) writer.exec('ROLLBACK');
  writer.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** `p`, or a rejection once `ms` have passed. */
async function within<T>(ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still waiting after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe('a claim on an empty queue', () => {
  it('answers null at once while another connection holds the write lock', async () => {
    writer.exec('BEGIN IMMEDIATE');
    await expect(within(1_000, store.claimNext('w1', 'default', LEASE_MS, 2_000))).resolves.toBeNull();
  });

  it('is not taken when a job is queued: the job is claimed', async () => {
    const account = await makeAccount(store);
    const admitted = await store.admitJob(jobInput(account.id, 'u1'), 1_500);
    expect(admitted.kind).toBe('admitted');
    const job = await store.claimNext('w1', 'default', LEASE_MS, 2_000);
    expect(job?.status).toBe('running');
    expect(await store.claimNext('w1', 'default', LEASE_MS, 2_100)).toBeNull();
  });
});
