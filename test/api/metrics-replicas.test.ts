/**
 * Database-wide gauges (jobs by status, workers by pool and state) come from one replica only, so `sum()`
 * over replicas counts each job once; when that replica goes, another takes the export over.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.js';
import { createTestDatabase } from '../support/pg.js';

const servers: TestServer[] = [];
let drop: (() => Promise<void>) | null = null;

afterEach(async () => {
  for (const s of servers.splice(0)) await s.close().catch(() => {});
  await drop?.();
  drop = null;
});

async function scrape(server: TestServer): Promise<string> {
  return await (await fetch(`${server.url}/metrics`)).text();
}

async function exporters(list: TestServer[]): Promise<boolean[]> {
  return await Promise.all(
    list.map(async (s) => /^arrakis_database_gauges_exporter 1$/m.test(await scrape(s))),
  );
}

async function until(check: () => Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('database-wide gauges across replicas (Postgres)', () => {
  it('are exported by exactly one replica, and by the other once it is gone', async () => {
    const created = await createTestDatabase();
    drop = created.drop;
    const a = await startTestServer({ db: created.url });
    servers.push(a);
    const b = await startTestServer({ db: created.url });
    servers.push(b);
    await until(async () => (await exporters([a, b])).filter(Boolean).length === 1, 10_000);
    const [aExports] = await exporters([a, b]);
    const [exporting, other] = aExports === true ? [a, b] : [b, a];
    expect(await scrape(exporting)).toMatch(/^arrakis_jobs\{status="queued"\} 0$/m);
    const silent = await scrape(other);
    expect(silent).toMatch(/^arrakis_database_gauges_exporter 0$/m);
    expect(silent).not.toMatch(/^arrakis_jobs\{/m);
    expect(silent).not.toMatch(/^arrakis_workers\{/m);

    await exporting.close();
    servers.splice(servers.indexOf(exporting), 1);
    await until(async () => /^arrakis_jobs\{status="queued"\} 0$/m.test(await scrape(other)), 20_000);
  }, 40_000);
});
