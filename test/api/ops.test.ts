/** Operational endpoints, the OpenAPI document, the error-code docs, and SSE across two Postgres replicas. */
import { readFileSync } from 'node:fs';
import SwaggerParser from '@apidevtools/swagger-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_ERRORS, JOB_ERRORS } from '../../src/errors.js';
import { client, createTenant, invertWorkflow, startTestServer, type TestServer } from '../support/server.js';
import { readSse } from '../support/sse.js';

describe('operations on SQLite', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ settings: { comfyLite: 0 } });
  });
  afterAll(async () => {
    await server.close();
  });

  it('healthz, readyz, metrics with the job and admission series', async () => {
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    const t = await createTenant(server, { limits: { max_active_jobs_per_user: 1 } });
    const c = client(server, t.key, 'm');
    await c.submit({ workflow: invertWorkflow() });
    await c.submit({ workflow: invertWorkflow() });
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toMatch(/arrakis_jobs\{status="queued"\} [1-9]/);
    expect(text).toMatch(/arrakis_admission_rejections_total\{code="quota_exceeded"\} 1/);
    expect(text).toContain('arrakis_http_request_duration_seconds_bucket');
    expect(text).toContain('route="/v1/jobs"');
  });

  it('caps open event streams per user (429), and a closed stream frees its slot', async () => {
    const t = await createTenant(server);
    const job = await client(server, t.key, 'watcher').submit({ workflow: invertWorkflow() });
    const headers = { authorization: `Bearer ${t.key}`, 'x-user-id': 'watcher' };
    const url = `${server.url}/v1/jobs/${job.body.id}/events`;
    const open: AbortController[] = [];
    // Held: an unread response that is garbage-collected closes its stream, freeing a slot mid-test.
    const responses: Response[] = [];
    for (let i = 0; i < 20; i++) {
      const ac = new AbortController();
      const res = await fetch(url, { headers, signal: ac.signal });
      expect(res.status).toBe(200);
      open.push(ac);
      responses.push(res);
    }
    const refused = await fetch(url, { headers });
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as any).code).toBe('rate_limited');
    open.pop()!.abort();
    let again = 429;
    for (let i = 0; i < 50 && again === 429; i++) {
      await new Promise((r) => setTimeout(r, 20));
      const ac = new AbortController();
      const res = await fetch(url, { headers, signal: ac.signal });
      again = res.status;
      open.push(ac);
      if (again !== 200) await res.text();
    }
    expect(again).toBe(200);
    for (const ac of open) ac.abort();
    expect(responses).toHaveLength(20);
  });

  it('every response carries a request id; a sane incoming one is kept', async () => {
    const r = await fetch(`${server.url}/healthz`, { headers: { 'x-request-id': 'abc-123' } });
    expect(r.headers.get('x-request-id')).toBe('abc-123');
    const r2 = await fetch(`${server.url}/healthz`, { headers: { 'x-request-id': 'bad id with spaces' } });
    expect(r2.headers.get('x-request-id')).not.toBe('bad id with spaces');
  });

  it('unknown routes answer problem+json 404', async () => {
    const r = await fetch(`${server.url}/v2/nothing`);
    expect(r.status).toBe(404);
    expect(((await r.json()) as any).code).toBe('not_found');
  });

  it('/openapi.json is a valid OpenAPI 3.1 document covering the contract', async () => {
    const doc: any = await (await fetch(`${server.url}/openapi.json`)).json();
    expect(doc.openapi).toBe('3.1.0');
    await SwaggerParser.validate(structuredClone(doc));
    for (const path of [
      '/v1/jobs',
      '/v1/jobs/{id}',
      '/v1/jobs/{id}/events',
      '/v1/jobs/{id}/outputs/{index}',
      '/v1/usage',
      '/v1/admin/accounts',
    ]) {
      expect(Object.keys(doc.paths), path).toContain(path);
    }
    expect(doc.paths['/v1/jobs'].post.requestBody).toBeDefined();
  });
});

describe('docs/errors.md', () => {
  it('documents exactly the codes the code has', () => {
    const md = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    const documented = new Set([...md.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]));
    const codes = new Set([...Object.keys(API_ERRORS), ...Object.keys(JOB_ERRORS)]);
    expect([...documented].sort()).toEqual([...codes].sort());
    for (const [code, e] of Object.entries(API_ERRORS)) {
      expect(md, code).toMatch(new RegExp(`\\| \`${code}\` \\| ${e.status} \\|`));
    }
  });
});

describe('SSE across two replicas on Postgres', () => {
  let a: TestServer;
  let b: TestServer;
  beforeAll(async () => {
    a = await startTestServer({ backend: 'postgres', settings: { comfyLite: 0 } });
    b = await startTestServer({ db: a.config.db, settings: { comfyLite: 0 } });
  });
  afterAll(async () => {
    await b.close();
    await a.close();
  });

  it('a cancel on replica B reaches a stream on replica A, and Last-Event-ID resumes', async () => {
    const t = await createTenant(a);
    const ca = client(a, t.key, 'sse');
    const cb = client(b, t.key, 'sse');
    const job = await ca.submit({ workflow: invertWorkflow() });
    const headers = { authorization: `Bearer ${t.key}`, 'x-user-id': 'sse' };
    const stream = readSse(`${a.url}/v1/jobs/${job.body.id}/events`, headers);
    await new Promise((r) => setTimeout(r, 200));
    expect((await cb.cancel(job.body.id)).status).toBe(200);
    const events = await stream;
    const done = events.find((e) => e.event === 'done');
    expect(done?.data.job?.status ?? done?.data.status).toBe('cancelled');
    expect(events[0]).toMatchObject({ event: 'status', id: '', data: { status: 'queued' } });
    const logIds = events.filter((e) => e.id !== '').map((e) => Number(e.id));
    expect(logIds).toEqual([...logIds].sort((x, y) => x - y));
    const last = logIds[logIds.length - 1]!;
    const replay = await readSse(`${b.url}/v1/jobs/${job.body.id}/events`, {
      ...headers,
      'last-event-id': String(last - 1),
    });
    expect(replay.filter((e) => e.id !== '').map((e) => e.id)).toEqual([String(last)]);
    const pastEnd = await readSse(`${b.url}/v1/jobs/${job.body.id}/events`, {
      ...headers,
      'last-event-id': String(last),
    });
    expect(pastEnd).toEqual([]);
  });
});

describe('graceful shutdown', () => {
  it('ends open event streams and closes promptly', async () => {
    const server = await startTestServer({ settings: { comfyLite: 0 } });
    const t = await createTenant(server);
    const job = await client(server, t.key, 'u').submit({ workflow: invertWorkflow() });
    const res = await fetch(`${server.url}/v1/jobs/${job.body.id}/events`, {
      headers: { authorization: `Bearer ${t.key}`, 'x-user-id': 'u' },
    });
    expect(res.status).toBe(200);
    const reading = (async () => {
      let text = '';
      for await (const chunk of res.body!) text += Buffer.from(chunk).toString();
      return text;
    })();
    const t0 = Date.now();
    await server.close();
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(await reading).toContain('event: status');
  });
});
