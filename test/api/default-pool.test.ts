/**
 * One pool rule, end to end: a job that names no pool is stored with the default pool's name and only that
 * pool's workers take it (a `gpu` worker does not); a worker token issued without a pool serves the default
 * pool; with a fleet file, `default_pool` decides which pool scales for, runs and is billed for such jobs;
 * jobs stored without a pool by an older version are adopted into the default pool when serve starts.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startComfyLite, type ComfyLiteServer } from '../../src/comfy-lite/server.js';
import { WORKER_ID_HEADER } from '../../src/workers/worker-protocol.js';
import { createTestDatabase, execPg } from '../support/pg.js';
import {
  client,
  createTenant,
  invertWorkflow,
  isTerminal,
  startTestServer,
  waitForJob,
  type Backend,
  type TestServer,
} from '../support/server.js';

/** Issues a worker token (for `pool`, or none) and registers a remote worker with it. */
async function remoteWorker(
  server: TestServer,
  pool?: string,
): Promise<{ claim(): Promise<any>; pool: string }> {
  const issued = await server.admin('POST', '/v1/admin/worker-tokens', {
    name: `w-${pool ?? 'none'}`,
    ...(pool === undefined ? {} : { pool }),
  });
  const auth = { authorization: `Bearer ${issued.body.token}`, 'content-type': 'application/json' };
  const reg = await fetch(`${server.url}/v1/worker/register`, {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({ name: `w-${pool ?? 'none'}` }),
  });
  const registered = (await reg.json()) as { worker_id: string; pool: string };
  return {
    pool: registered.pool,
    claim: async () => {
      const res = await fetch(`${server.url}/v1/worker/claim`, {
        method: 'POST',
        headers: { ...auth, [WORKER_ID_HEADER]: registered.worker_id },
        body: JSON.stringify({ wait_ms: 0 }),
      });
      return ((await res.json()) as { job: any }).job;
    },
  };
}

describe.each<Backend>(['sqlite', 'postgres'])('the default pool on %s', (backend) => {
  it('a job naming no pool is stored in the default pool and only its workers take it', async () => {
    const server = await startTestServer({ backend, settings: { comfyLite: 0 } });
    try {
      const gpu = await remoteWorker(server, 'gpu');
      const plain = await remoteWorker(server);
      expect(plain.pool).toBe('default');
      const t = await createTenant(server);
      const c = client(server, t.key, 'alice');
      const r = await c.submit({ workflow: invertWorkflow() });
      expect(r.status).toBe(202);
      expect((await server.cp.store.getJob(r.body.id))?.pool).toBe('default');
      expect(await gpu.claim()).toBeNull();
      expect((await plain.claim())?.id).toBe(r.body.id);
    } finally {
      await server.close();
    }
  });

  it('--default-pool names it, and jobs stored without a pool are adopted at start', async () => {
    const db = await ownDatabase(backend);
    try {
      const first = await startTestServer({ db: db.url, settings: { comfyLite: 0 } });
      const t = await createTenant(first);
      const r = await client(first, t.key, 'alice').submit({ workflow: invertWorkflow() });
      await first.close();
      // What a version before the pool rule wrote for a job that named no pool.
      await rawSql(db.url, `UPDATE jobs SET pool = NULL WHERE id = '${r.body.id}'`);
      const server = await startTestServer({ db: db.url, settings: { comfyLite: 0, defaultPool: 'main' } });
      try {
        expect((await server.cp.store.getJob(r.body.id))?.pool).toBe('main');
        const main = await remoteWorker(server);
        expect(main.pool).toBe('main');
        const fresh = await client(server, t.key, 'bob').submit({ workflow: invertWorkflow() });
        expect((await server.cp.store.getJob(fresh.body.id))?.pool).toBe('main');
        expect(await main.claim()).toMatchObject({ id: r.body.id });
      } finally {
        await server.close();
      }
    } finally {
      await db.drop();
    }
  });
});

/** A database that outlives one server (the test servers drop only what they made). */
async function ownDatabase(backend: Backend): Promise<{ url: string; drop(): Promise<void> }> {
  if (backend === 'postgres') return await createTestDatabase();
  const dir = mkdtempSync(join(tmpdir(), 'arrakis-pool-'));
  return {
    url: `sqlite:${join(dir, 'arrakis.db')}`,
    drop: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

async function rawSql(db: string, text: string): Promise<void> {
  if (db.startsWith('sqlite:')) {
    const raw = new Database(db.slice('sqlite:'.length));
    try {
      raw.exec(text);
    } finally {
      raw.close();
    }
    return;
  }
  await execPg(db, text);
}

describe('the default pool of a fleet file', () => {
  const lites: ComfyLiteServer[] = [];
  let dir: string;
  let server: TestServer;
  beforeAll(async () => {
    for (let i = 0; i < 2; i++) lites.push(await startComfyLite({ host: '127.0.0.1', port: 0 }));
    dir = mkdtempSync(join(tmpdir(), 'arrakis-default-pool-'));
    const fleetFile = join(dir, 'fleet.yaml');
    const pool = (name: string, url: string, price: number): string[] => [
      `  ${name}:`,
      '    provider: static',
      '    min: 0',
      '    max: 1',
      '    scale_down_s: 600',
      `    price_per_gpu_second: ${price}`,
      '    static:',
      `      urls: ["${url}"]`,
    ];
    // `first` comes first: before the pool rule, jobs naming no pool scaled and were billed to it.
    const lines = ['default_pool: main', 'pools:', ...pool('first', lites[0]!.url, 0)];
    writeFileSync(fleetFile, [...lines, ...pool('main', lites[1]!.url, 0.001), ''].join('\n'));
    server = await startTestServer({ settings: { comfyLite: 0, fleet: fleetFile } });
  });
  afterAll(async () => {
    await server.close();
    for (const l of lites) await l.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('scales, runs and bills a job naming no pool in default_pool, not the first pool', async () => {
    const t = await createTenant(server);
    const c = client(server, t.key, 'alice');
    const r = await c.submit({ workflow: invertWorkflow() });
    expect((await waitForJob(c, r.body.id, isTerminal, 30_000)).status).toBe('completed');
    expect((await server.cp.store.getJob(r.body.id))?.pool).toBe('main');
    expect((await server.admin('GET', '/v1/admin/fleet')).body.default_pool).toBe('main');
    const decisions = async (pool: string): Promise<number[]> =>
      (await server.admin('GET', `/v1/admin/fleet/decisions?pool=${pool}`)).body.data.map(
        (d: any) => d.target,
      );
    expect(await decisions('main')).toContain(1);
    expect(await decisions('first')).not.toContain(1);
    const usage = await server.admin('GET', `/v1/admin/accounts/${t.accountId}/usage`);
    expect(usage.body.pools).toEqual([
      { pool: 'main', jobs: 1, run_seconds: expect.any(Number), cost: expect.any(Number) },
    ]);
    expect(usage.body.cost).toBeGreaterThan(0);
  });
});
