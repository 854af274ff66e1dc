/**
 * The job endpoints' contract over real HTTP with no workers (jobs stay queued): statuses, codes,
 * field paths, quotas versus rate limits, idempotency, cancel, pagination, templates.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, createTenant, invertWorkflow, startTestServer, type TestServer } from '../support/server.js';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ settings: { comfyLite: 0, maxBodyMb: 1 } });
});
afterAll(async () => {
  await server.close();
});

async function tenantClient(user = 'alice', limits: Record<string, number> = {}) {
  const t = await createTenant(server, {
    limits: { submit_rate_per_user: 1000, submit_burst_per_user: 1000, ...limits },
  });
  return { t, c: client(server, t.key, user) };
}

describe('POST /v1/jobs', () => {
  it('202 with Location and the job', async () => {
    const { c } = await tenantClient();
    const r = await c.submit({ workflow: invertWorkflow(), metadata: { order: 42 }, priority: 3 });
    expect(r.status).toBe(202);
    expect(r.headers.get('location')).toBe(`/v1/jobs/${r.body.id}`);
    expect(r.body).toMatchObject({
      status: 'queued',
      user_id: 'alice',
      started_at: null,
      finished_at: null,
      queue_wait_s: null,
      cancel_requested: false,
      progress: null,
      outputs: [],
      error: null,
      metadata: { order: 42 },
    });
    expect(Date.parse(r.body.created_at)).not.toBeNaN();
  });

  it('400 validation_failed names the failing fields (unknown field, wrong type, both or neither)', async () => {
    const { c } = await tenantClient();
    const unknown = await c.submit({ workflow: invertWorkflow(), colour: 'red' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.code).toBe('validation_failed');
    expect(JSON.stringify(unknown.body.errors)).toContain('colour');
    const wrongType = await c.submit({ workflow: invertWorkflow(), priority: 'high' });
    expect(wrongType.status).toBe(400);
    expect(wrongType.body.errors.some((e: any) => e.path === 'body.priority')).toBe(true);
    const neither = await c.submit({ metadata: {} });
    expect(neither.status).toBe(400);
    const both = await c.submit({ workflow: invertWorkflow(), template: 'x' });
    expect(both.status).toBe(400);
    const notJson = await c.submit('{"workflow":');
    expect(notJson.status).toBe(400);
    expect(notJson.body.code).toBe('validation_failed');
  });

  it('metadata over 4 KiB → 400 with the field; user_id of someone else → 403 user_mismatch', async () => {
    const { c } = await tenantClient();
    const big = await c.submit({ workflow: invertWorkflow(), metadata: { blob: 'x'.repeat(5000) } });
    expect(big.status).toBe(400);
    expect(big.body.errors[0].path).toBe('body.metadata');
    const mismatch = await c.submit({ workflow: invertWorkflow(), user_id: 'bob' });
    expect(mismatch.status).toBe(403);
    expect(mismatch.body.code).toBe('user_mismatch');
    expect((await c.submit({ workflow: invertWorkflow(), user_id: 'alice' })).status).toBe(202);
  });

  it('422 workflow_invalid lists node ids (missing class_type, dangling link, cycle)', async () => {
    const { c } = await tenantClient();
    const missing = await c.submit({
      workflow: { '1': { inputs: {} }, '2': { class_type: 'SaveImage', inputs: { images: ['1', 0] } } },
    });
    expect(missing.status).toBe(422);
    expect(missing.body.code).toBe('workflow_invalid');
    expect(missing.body.node_ids).toContain('1');
    const dangling = await c.submit({
      workflow: { '3': { class_type: 'SaveImage', inputs: { images: ['9', 0], filename_prefix: 'x' } } },
    });
    expect(dangling.status).toBe(422);
    expect(dangling.body.node_ids).toEqual(['3']);
    const loadsOther = await c.submit({
      workflow: {
        '1': { class_type: 'LoadImage', inputs: { image: '../../etc/passwd' } },
        '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'x' } },
      },
    });
    expect(loadsOther.status).toBe(422);
    expect(loadsOther.body.node_ids).toEqual(['1']);
  });

  it('node types outside the account allowlist → 422 with the node id', async () => {
    const t = await createTenant(server, { node_allowlist: ['EmptyImage', 'SaveImage'] });
    const r = await client(server, t.key, 'u').submit({ workflow: invertWorkflow() });
    expect(r.status).toBe(422);
    expect(r.body.node_ids).toEqual(['2']);
  });

  it('413 payload_too_large for a body over the limit; deep JSON refused', async () => {
    const { c } = await tenantClient();
    const huge = await c.submit({ workflow: invertWorkflow(), metadata: { x: 'y'.repeat(2 * 1024 * 1024) } });
    expect(huge.status).toBe(413);
    expect(huge.body.code).toBe('payload_too_large');
    let deep: any = 1;
    for (let i = 0; i < 100; i++) deep = { d: deep };
    const r = await c.submit({ workflow: invertWorkflow(), metadata: deep });
    expect(r.status).toBe(413);
  });

  it('413 when multipart parts together exceed the body limit, even if each is under it', async () => {
    const { t } = await tenantClient();
    const form = new FormData();
    form.set('request', JSON.stringify({ workflow: invertWorkflow() }));
    form.set('a', new Blob([Buffer.alloc(600 * 1024, 1)]), 'a.png');
    form.set('b', new Blob([Buffer.alloc(600 * 1024, 2)]), 'b.png');
    const res = await fetch(`${server.url}/v1/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.key}`, 'x-user-id': 'alice' },
      body: form,
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as any).code).toBe('payload_too_large');
  });

  it('multipart is read only by POST /v1/jobs: elsewhere a multipart body is 415 and changes nothing', async () => {
    const { t, c } = await tenantClient();
    const job = await c.submit({ workflow: invertWorkflow() });
    const form = new FormData();
    form.set('request', '{}');
    const res = await fetch(`${server.url}/v1/jobs/${job.body.id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${t.key}`, 'x-user-id': 'alice' },
      body: form,
    });
    expect(res.status).toBe(415);
    expect(((await res.json()) as any).code).toBe('unsupported_media_type');
    expect((await c.get(job.body.id)).body.status).toBe('queued');
  });

  it('a read-only key is refused before a multipart body is read', async () => {
    const ro = await createTenant(server, {}, ['jobs:read']);
    const form = new FormData();
    form.set('request', JSON.stringify({ workflow: invertWorkflow() }));
    const res = await fetch(`${server.url}/v1/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ro.key}`, 'x-user-id': 'alice' },
      body: form,
    });
    expect(res.status).toBe(403);
  });

  it('400 url_blocked for input and webhook URLs that can never be fetched', async () => {
    const { c } = await tenantClient();
    for (const url of [
      'http://127.0.0.1/x.png',
      'http://2130706433/',
      'http://0x7f.1/',
      'http://[::ffff:10.0.0.1]/',
      'file:///etc/passwd',
      'http://169.254.169.254/latest',
    ]) {
      const r = await c.submit({ workflow: invertWorkflow(), inputs: { img: { url } } });
      expect(r.status, url).toBe(400);
      expect(r.body.code).toBe('url_blocked');
      const w = await c.submit({ workflow: invertWorkflow(), webhook: { url } });
      expect(w.status, url).toBe(400);
      expect(w.body.code).toBe('url_blocked');
    }
  });
});

describe('quotas and rate limits', () => {
  it('429 quota_exceeded at the per-user limit, with Retry-After; other users unaffected', async () => {
    const { t, c } = await tenantClient('alice', { max_active_jobs_per_user: 2 });
    expect((await c.submit({ workflow: invertWorkflow() })).status).toBe(202);
    expect((await c.submit({ workflow: invertWorkflow() })).status).toBe(202);
    const r = await c.submit({ workflow: invertWorkflow() });
    expect(r.status).toBe(429);
    expect(r.body.code).toBe('quota_exceeded');
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await client(server, t.key, 'bob').submit({ workflow: invertWorkflow() })).status).toBe(202);
  });

  it('8 parallel submissions against a limit of 5 admit exactly 5', async () => {
    const { c } = await tenantClient('alice', { max_active_jobs_per_user: 5 });
    const results = await Promise.all(
      Array.from({ length: 8 }, () => c.submit({ workflow: invertWorkflow() })),
    );
    expect(results.filter((r) => r.status === 202)).toHaveLength(5);
    expect(results.filter((r) => r.status === 429 && r.body.code === 'quota_exceeded')).toHaveLength(3);
  });

  it('cancelling a queued job frees its slot', async () => {
    const { c } = await tenantClient('alice', { max_active_jobs_per_user: 1 });
    const first = await c.submit({ workflow: invertWorkflow() });
    expect((await c.submit({ workflow: invertWorkflow() })).status).toBe(429);
    expect((await c.cancel(first.body.id)).status).toBe(200);
    expect((await c.submit({ workflow: invertWorkflow() })).status).toBe(202);
  });

  it('429 rate_limited past the burst, distinct from quota_exceeded', async () => {
    const t = await createTenant(server, {
      limits: { submit_rate_per_user: 0.5, submit_burst_per_user: 2, max_active_jobs_per_user: 100 },
    });
    const c = client(server, t.key, 'alice');
    expect((await c.submit({ workflow: invertWorkflow() })).status).toBe(202);
    expect((await c.submit({ workflow: invertWorkflow() })).status).toBe(202);
    const r = await c.submit({ workflow: invertWorkflow() });
    expect(r.status).toBe(429);
    expect(r.body.code).toBe('rate_limited');
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await client(server, t.key, 'bob').submit({ workflow: invertWorkflow() })).status).toBe(202);
  });

  it('a submission refused after the rate gate still costs its token (body, workflow, quota)', async () => {
    const limits = { submit_rate_per_user: 0.01, submit_burst_per_user: 3, max_active_jobs_per_user: 1 };
    const t = await createTenant(server, { limits });
    const c = client(server, t.key, 'alice');
    expect((await c.submit({ workflow: invertWorkflow(), colour: 'red' })).status).toBe(400);
    expect((await c.submit({ workflow: invertWorkflow() })).status).toBe(202);
    expect((await c.submit({ workflow: invertWorkflow() })).body.code).toBe('quota_exceeded');
    // Three tokens: the 400, the admission and the quota refusal took one each.
    expect((await c.submit({ workflow: invertWorkflow() })).body.code).toBe('rate_limited');
  });
});

describe('idempotency', () => {
  it('same key and body → the original job; other body → 409 idempotency_conflict', async () => {
    const { c } = await tenantClient();
    const body = { workflow: invertWorkflow(), metadata: { a: 1, b: 2 } };
    const first = await c.submit(body, { 'idempotency-key': 'order-1' });
    expect(first.status).toBe(202);
    const reordered = { metadata: { b: 2, a: 1 }, workflow: invertWorkflow() };
    const again = await c.submit(reordered, { 'idempotency-key': 'order-1' });
    expect(again.status).toBe(202);
    expect(again.body.id).toBe(first.body.id);
    const conflict = await c.submit({ workflow: invertWorkflow(1) }, { 'idempotency-key': 'order-1' });
    expect(conflict.status).toBe(409);
    expect(conflict.body.code).toBe('idempotency_conflict');
    const parallel = await Promise.all(
      Array.from({ length: 6 }, () => c.submit(body, { 'idempotency-key': 'order-2' })),
    );
    expect(new Set(parallel.map((r) => r.body.id)).size).toBe(1);
  });

  it('a malformed Idempotency-Key is 400 validation_failed (checked by the route, the header schema only documents it)', async () => {
    const { c } = await tenantClient();
    for (const bad of ['k'.repeat(256), 'a b', '']) {
      const r = await c.submit({ workflow: invertWorkflow() }, { 'idempotency-key': bad });
      expect(r.status, JSON.stringify(bad)).toBe(400);
      expect(r.body.code).toBe('validation_failed');
      expect(r.body.errors[0].path).toBe('headers.idempotency-key');
    }
    expect(
      (await c.submit({ workflow: invertWorkflow() }, { 'idempotency-key': 'k'.repeat(255) })).status,
    ).toBe(202);
    // An unusable Prefer is ignored (RFC 7240), never a 400.
    expect((await c.submit({ workflow: invertWorkflow() }, { prefer: 'wait=abc' })).status).toBe(202);
  });
});

describe('reads, cancel, pagination, usage', () => {
  it('cancel: 200 for queued, 409 job_finished after', async () => {
    const { c } = await tenantClient();
    const j = await c.submit({ workflow: invertWorkflow() });
    const r = await c.cancel(j.body.id);
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('cancelled');
    const again = await c.call('DELETE', `/v1/jobs/${j.body.id}`, undefined, {
      'content-type': 'application/json',
    });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('job_finished');
  });

  it('list: newest first, status filter, cursor pages without overlap', async () => {
    const { c } = await tenantClient('pager');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await c.submit({ workflow: invertWorkflow() })).body.id);
    await c.cancel(ids[0]!);
    const p1 = await c.list('?limit=2');
    expect(p1.body.data.map((j: any) => j.id)).toEqual([ids[4], ids[3]]);
    const p2 = await c.list(`?limit=2&cursor=${p1.body.next_cursor}`);
    expect(p2.body.data.map((j: any) => j.id)).toEqual([ids[2], ids[1]]);
    const p3 = await c.list(`?limit=2&cursor=${p2.body.next_cursor}`);
    expect(p3.body.data.map((j: any) => j.id)).toEqual([ids[0]]);
    expect(p3.body.next_cursor).toBeNull();
    const cancelled = await c.list('?status=cancelled');
    expect(cancelled.body.data.map((j: any) => j.id)).toEqual([ids[0]]);
    expect((await c.list('?limit=0')).status).toBe(400);
    expect((await c.list('?status=bogus')).status).toBe(400);
  });

  it('usage reports active jobs and limits', async () => {
    const { c } = await tenantClient('counted');
    await c.submit({ workflow: invertWorkflow() });
    const u = await c.usage();
    expect(u.status).toBe(200);
    expect(u.body).toMatchObject({ user_id: 'counted', active_jobs: 1, jobs_today: 1 });
    expect(u.body.limits.max_active_jobs_per_user).toBe(5);
  });
});

describe('templates', () => {
  const template = {
    name: 'invert-solid',
    description: 'A solid colour, inverted',
    workflow: invertWorkflow(),
    params: [
      {
        name: 'color',
        node: '1',
        input: 'color',
        type: 'integer',
        minimum: 0,
        maximum: 16777215,
        default: 0,
      },
      { name: 'size', node: '1', input: 'width', type: 'integer', enum: [8, 16, 32], default: 8 },
    ],
  };

  it('registered by the admin, submitted with typed params, shown in the OpenAPI document', async () => {
    expect((await server.admin('POST', '/v1/admin/templates', template)).status).toBe(201);
    const { c } = await tenantClient();
    const ok = await c.submit({ template: 'invert-solid', params: { color: 255, size: 16 } });
    expect(ok.status).toBe(202);
    expect(ok.body.template).toBe('invert-solid');
    const bad = await c.submit({ template: 'invert-solid', params: { color: -1, size: 7, extra: 1 } });
    expect(bad.status).toBe(400);
    const paths = bad.body.errors.map((e: any) => e.path).sort();
    expect(paths).toEqual(['body.params.color', 'body.params.extra', 'body.params.size']);
    const missing = await c.submit({ template: 'nope' });
    expect(missing.status).toBe(422);
    expect(missing.body.code).toBe('template_not_found');
    const doc: any = await (await fetch(`${server.url}/openapi.json`)).json();
    expect(doc.components.schemas['Template_invert-solid'].properties.params.properties.size.enum).toEqual([
      8, 16, 32,
    ]);
  });

  it('template users need no workflows:raw scope', async () => {
    await server.admin('POST', '/v1/admin/templates', template);
    const t = await createTenant(server, {}, ['jobs:read', 'jobs:write']);
    const r = await client(server, t.key, 'u').submit({ template: 'invert-solid', params: {} });
    expect(r.status).toBe(202);
  });

  it('a template whose params name a missing node is refused', async () => {
    const r = await server.admin('POST', '/v1/admin/templates', {
      ...template,
      name: 'broken',
      params: [{ name: 'x', node: '99', input: 'color', type: 'integer' }],
    });
    expect(r.status).toBe(400);
    expect(r.body.errors[0].path).toBe('body.params.0.node');
  });
});
