/** Postgres across OS processes: admissions from several replicas and migrations started at once. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { BACKENDS, type TestDb } from './backends.js';
import { makeAccount } from './fixtures.js';

const postgres = BACKENDS.filter((b) => b.name === 'postgres');

/** Runs a fixture script in its own node process and returns its stdout. */
async function runFixture(script: string, args: string[]): Promise<string> {
  const path = fileURLToPath(new URL(`./fixtures/${script}`, import.meta.url));
  return await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${script} exited ${code}: ${err}`)),
    );
  });
}

const burstSchema = z.object({ admitted: z.number(), rejected: z.number() });

describe.each(postgres)('separate processes on $name', (backend) => {
  let db: TestDb;
  beforeEach(async () => {
    db = await backend.create({ migrate: false });
  });
  afterEach(async () => {
    await db.cleanup();
  });

  it('two processes migrating one fresh database at once apply each migration once', async () => {
    const outs = await Promise.all([
      runFixture('migrate-once.ts', [db.url]),
      runFixture('migrate-once.ts', [db.url]),
    ]);
    const applied = outs.map((o) => z.array(z.string()).parse(JSON.parse(o)));
    expect(applied.flat()).toEqual(['001-initial', '002-server-functions', '003-model-placement']);
    expect(await db.store.isReady()).toBe(true);
  });

  it.each([8, 50])('%i admissions for one user from 3 processes admit exactly the limit', async (total) => {
    expect(await db.store.isReady()).toBe(false);
    await db.store.migrate();
    const account = await makeAccount(db.store);
    const shares = [0, 1, 2].map((i) => Math.floor(total / 3) + (i < total % 3 ? 1 : 0));
    const outs = await Promise.all(
      shares.map((n) => runFixture('admit-burst.ts', [db.url, account.id, 'u1', String(n)])),
    );
    const results = outs.map((o) => burstSchema.parse(JSON.parse(o)));
    expect(results.reduce((n, r) => n + r.admitted, 0)).toBe(5);
    expect(results.reduce((n, r) => n + r.rejected, 0)).toBe(total - 5);
    expect((await db.store.usage(account.id, 'u1', 0)).activeJobs).toBe(5);
    expect(await db.store.reconcileCounters()).toEqual([]);
  });
});
