/** `Prefer: wait=N` on POST /v1/jobs: one request for a short job, the usual 202 for a slow one. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArrakisClient } from 'arrakis/client';
import { preferredWait } from '../../src/api/prefer-wait.js';
import {
  client,
  createTenant,
  delayWorkflow,
  invertWorkflow,
  startTestServer,
  type TestServer,
} from '../support/server.js';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ settings: { comfyLite: 1 } });
});
afterAll(async () => {
  await server.close();
});

describe('Prefer: wait', () => {
  it('answers 200 with the finished job and absolute output URLs when it ends in time', async () => {
    const t = await createTenant(server);
    const c = client(server, t.key, 'alice');
    const started = Date.now();
    const r = await c.submit({ workflow: invertWorkflow() }, { prefer: 'wait=10' });
    // The wait follows the event bus: the answer comes when the job ends, not at the next safety poll (10 s).
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(r.status).toBe(200);
    expect(r.headers.get('preference-applied')).toBe('wait=10');
    expect(r.headers.get('location')).toBe(`/v1/jobs/${r.body.id}`);
    expect(r.body.status).toBe('completed');
    expect(r.body.outputs).toHaveLength(1);
    const url: string = r.body.outputs[0].url;
    expect(url).toBe(`${server.url}/v1/jobs/${r.body.id}/outputs/0`);
    const download = await fetch(url, {
      headers: { authorization: `Bearer ${t.key}`, 'x-user-id': 'alice' },
    });
    expect(download.status).toBe(200);
    expect(download.headers.get('content-type')).toBe('image/png');
  });

  it('answers 202 when the job is still running after N seconds', async () => {
    const t = await createTenant(server);
    const c = client(server, t.key, 'bob');
    const started = Date.now();
    const r = await c.submit({ workflow: delayWorkflow(30) }, { prefer: 'wait=1' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(r.status).toBe(202);
    expect(r.headers.get('preference-applied')).toBe('wait=1');
    expect(['queued', 'running']).toContain(r.body.status);
    await c.cancel(r.body.id);
  });

  it('without the preference answers 202 at once; an over-long wait is capped at 60', async () => {
    const t = await createTenant(server);
    const c = client(server, t.key, 'carol');
    const plain = await c.submit({ workflow: invertWorkflow() });
    expect(plain.status).toBe(202);
    expect(plain.headers.get('preference-applied')).toBeNull();
    const capped = await c.submit(
      { workflow: invertWorkflow(0x303030) },
      { prefer: 'respond-async, wait=600' },
    );
    expect(capped.headers.get('preference-applied')).toBe('wait=60');
    expect(capped.status).toBe(200);
  });

  it('the client sends it with { wait }', async () => {
    const t = await createTenant(server);
    const c = new ArrakisClient({ baseUrl: server.url, apiKey: t.key, userId: 'dave' });
    const job = await c.jobs.create({ workflow: invertWorkflow() }, { wait: 10 });
    expect(job.status).toBe('completed');
    expect(job.outputs[0]?.url.startsWith(server.url)).toBe(true);
  });

  it('absolute URLs start with --public-url when it is set', async () => {
    const other = await startTestServer({
      settings: { comfyLite: 1, publicUrl: 'https://api.example.com/' },
    });
    try {
      const t = await createTenant(other);
      const r = await client(other, t.key, 'erin').submit(
        { workflow: invertWorkflow() },
        { prefer: 'wait=10' },
      );
      expect(r.status).toBe(200);
      expect(r.body.outputs[0].url).toBe(`https://api.example.com/v1/jobs/${r.body.id}/outputs/0`);
    } finally {
      await other.close();
    }
  });

  it('parses RFC 7240 preferences', () => {
    expect(preferredWait(undefined)).toBeNull();
    expect(preferredWait('respond-async')).toBeNull();
    expect(preferredWait('wait=abc')).toBeNull();
    expect(preferredWait('respond-async, wait=5')).toBe(5);
    expect(preferredWait('WAIT = "7"')).toBe(7);
    expect(preferredWait(['handling=lenient', 'wait=99'])).toBe(60);
  });
});
