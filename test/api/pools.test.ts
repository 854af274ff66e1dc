/**
 * A job naming a pool nothing serves is refused at submission with 422 `pool_unknown` and the pools that exist
 * (fleet-file pools, `default` for serve's own workers, live remote workers' pools), instead of waiting
 * forever with a quota slot held.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, createTenant, invertWorkflow, startTestServer, type TestServer } from '../support/server.js';

let dir: string;
let server: TestServer;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'arrakis-pools-'));
  const fleetFile = join(dir, 'fleet.yaml');
  writeFileSync(
    fleetFile,
    // A pool that exists only in the fleet file: no worker runs it yet (min 0, and its command fails at once).
    [
      'pools:',
      '  batch:',
      '    provider: process',
      '    min: 0',
      '    max: 1',
      '    process:',
      '      command: "/bin/false {port}"',
      '',
    ].join('\n'),
  );
  server = await startTestServer({ settings: { comfyLite: 0, fleet: fleetFile } });
});
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('pool at submission', () => {
  it('an unknown pool → 422 pool_unknown listing the pools; no slot is taken', async () => {
    const t = await createTenant(server, { limits: { max_active_jobs_per_user: 1 } });
    const c = client(server, t.key, 'alice');
    const r = await c.submit({ workflow: invertWorkflow(), pool: 'nowhere' });
    expect(r.status).toBe(422);
    expect(r.body.code).toBe('pool_unknown');
    expect(r.body.pools).toEqual(['batch']);
    expect(r.body.errors[0].path).toBe('body.pool');
    expect((await c.usage()).body).toMatchObject({ active_jobs: 0 });
  });

  it('a fleet pool with no worker yet is accepted (the fleet starts workers on demand)', async () => {
    const t = await createTenant(server);
    const c = client(server, t.key, 'alice');
    const r = await c.submit({ workflow: invertWorkflow(), pool: 'batch' });
    expect(r.status).toBe(202);
    expect((await c.cancel(r.body.id)).status).toBe(200);
  });

  it("a live remote worker's pool is accepted, and listed when another is refused", async () => {
    const issued = await server.admin('POST', '/v1/admin/worker-tokens', { name: 'gpu', pool: 'remote-a' });
    const reg = await fetch(`${server.url}/v1/worker/register`, {
      method: 'POST',
      headers: { authorization: `Bearer ${issued.body.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'w' }),
    });
    expect(reg.status).toBe(201);
    const t = await createTenant(server);
    const c = client(server, t.key, 'alice');
    const ok = await c.submit({ workflow: invertWorkflow(), pool: 'remote-a' });
    expect(ok.status).toBe(202);
    const refused = await c.submit({ workflow: invertWorkflow(), pool: 'remote-b' });
    expect(refused.status).toBe(422);
    expect(refused.body.pools).toEqual(['batch', 'remote-a']);
  });
});

describe('serve with its own workers', () => {
  it('serves pool "default" (its comfy-lite) and refuses others', async () => {
    const s = await startTestServer({ settings: { comfyLite: 1 } });
    try {
      const t = await createTenant(s);
      const c = client(s, t.key, 'alice');
      expect((await c.submit({ workflow: invertWorkflow(), pool: 'default' })).status).toBe(202);
      const r = await c.submit({ workflow: invertWorkflow(), pool: 'gpu' });
      expect(r.status).toBe(422);
      expect(r.body.pools).toEqual(['default']);
    } finally {
      await s.close();
    }
  });
});
