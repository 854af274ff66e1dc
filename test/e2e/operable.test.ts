/**
 * Issue 13 (items 2, 5, 10) through the HTTP API on comfy-lite: ComfyUI's input validation at submission and
 * when a template is saved, the event stream of a finished job in the order things happened, per-account
 * templates and params that set several inputs.
 */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSse } from '../support/sse.js';
import {
  client,
  createTenant,
  delayWorkflow,
  isTerminal,
  startTestServer,
  waitForJob,
  type Tenant,
  type TestServer,
} from '../support/server.js';

let server: TestServer;
let alice: Tenant;
let bob: Tenant;
let a: ReturnType<typeof client>;
let b: ReturnType<typeof client>;

const LIMITS = { max_active_jobs_per_user: 50, submit_rate_per_user: 1000, submit_burst_per_user: 1000 };

function emptyImage(width: unknown, height: unknown = 8): Record<string, unknown> {
  return {
    '1': { class_type: 'EmptyImage', inputs: { width, height, batch_size: 1, color: 0 } },
    '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'x' } },
  };
}

/** Waits until the worker has reported its node definitions (a bad workflow is then refused at submission). */
async function untilDefinitionsKnown(): Promise<{ status: number; body: any }> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const r = await a.submit({ workflow: emptyImage('abc') });
    if (r.status !== 202 || Date.now() > deadline) return r;
    await new Promise((res) => setTimeout(res, 50));
  }
}

beforeAll(async () => {
  server = await startTestServer({ settings: { comfyLite: 1 } });
  alice = await createTenant(server, { limits: LIMITS });
  bob = await createTenant(server, { limits: LIMITS });
  a = client(server, alice.key, 'alice');
  b = client(server, bob.key, 'bob');
});
afterAll(async () => {
  await server.close();
});

describe("ComfyUI's input validation at submission (item 2)", () => {
  it('refuses "abc" for an INT with 422 workflow_invalid, ComfyUI\'s message and the field path', async () => {
    const r = await untilDefinitionsKnown();
    expect(r.status).toBe(422);
    expect(r.body.code).toBe('workflow_invalid');
    expect(r.body.detail).toContain('Failed to convert an input value to a INT value: width, abc');
    expect(r.body.problems).toEqual([
      expect.objectContaining({
        node_id: '1',
        class_type: 'EmptyImage',
        input: 'width',
        path: 'workflow.1.inputs.width',
      }),
    ]);
  });

  it('refuses a missing required input and a value out of range, naming each', async () => {
    const missing = await a.submit({
      workflow: {
        '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
        '2': { class_type: 'SaveImage', inputs: { filename_prefix: 'x' } },
      },
    });
    expect(missing.status).toBe(422);
    expect(missing.body.problems).toEqual([
      expect.objectContaining({
        path: 'workflow.2.inputs.images',
        message: 'Required input is missing: images',
      }),
    ]);
    const range = await a.submit({ workflow: emptyImage(8, 0) });
    expect(range.status).toBe(422);
    expect(range.body.problems[0]).toMatchObject({
      path: 'workflow.1.inputs.height',
      message: 'Value 0 smaller than min of 1: height',
    });
  });

  it('refuses a template whose workflow ComfyUI would refuse, with the field path', async () => {
    await untilDefinitionsKnown();
    const r = await server.admin('POST', '/v1/admin/templates', {
      name: 'broken',
      workflow: emptyImage(8, 'tall'),
    });
    expect(r.status).toBe(422);
    expect(r.body.code).toBe('workflow_invalid');
    expect(r.body.problems[0]).toMatchObject({ path: 'workflow.1.inputs.height' });
    // An input a param fills at submission may be missing from the saved workflow.
    const open = await server.admin('POST', '/v1/admin/templates', {
      name: 'open-width',
      workflow: {
        '1': { class_type: 'EmptyImage', inputs: { height: 8, batch_size: 1, color: 0 } },
        '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'x' } },
      },
      params: [{ name: 'width', node: '1', input: 'width', type: 'integer', required: true }],
    });
    expect(open.status).toBe(201);
  });
});

describe('the event stream of a finished job (item 5)', () => {
  it('replays what happened in order: no status after done, progress before outputs, outputs with url and type', async () => {
    const r = await a.submit({
      workflow: {
        '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
        '2': { class_type: 'PreviewImage', inputs: { images: ['1', 0] } },
        '3': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'saved' } },
      },
    });
    expect(r.status).toBe(202);
    const job = await waitForJob(a, r.body.id, isTerminal);
    expect(job.status).toBe('completed');
    expect(job.outputs.map((o: any) => [o.node_id, o.type])).toEqual([
      ['3', 'output'],
      ['2', 'temp'],
    ]);
    const events = await readSse(`${server.url}/v1/jobs/${job.id}/events`, {
      authorization: `Bearer ${alice.key}`,
      'x-user-id': 'alice',
    });
    const names = events.map((e) => e.event);
    // The stream of a finished job used to open with a `completed` snapshot and then replay `running`.
    expect(events.some((e) => e.data?.snapshot === true)).toBe(false);
    expect(names[0]).toBe('status');
    expect(events[0]?.data.status).toBe('running');
    expect(names.at(-1)).toBe('done');
    expect(names.lastIndexOf('progress')).toBeLessThan(names.indexOf('output'));
    const outputs = events.filter((e) => e.event === 'output').map((e) => e.data);
    expect(outputs).toEqual(job.outputs);
    expect(events.at(-1)?.data).toMatchObject({ status: 'completed', error: null });
  });

  it('still opens with a snapshot for a job nothing has happened to yet, then its history', async () => {
    // The one worker is busy with the first job, so the second waits in the queue with an empty history.
    const busy = await a.submit({ workflow: delayWorkflow(1) });
    expect(busy.status).toBe(202);
    await waitForJob(a, busy.body.id, (j) => j.status === 'running');
    const queued = await a.submit({ workflow: emptyImage(8) });
    expect(queued.status).toBe(202);
    const events = await readSse(`${server.url}/v1/jobs/${queued.body.id}/events`, {
      authorization: `Bearer ${alice.key}`,
      'x-user-id': 'alice',
    });
    expect(events[0]).toMatchObject({ event: 'status', data: { status: 'queued', snapshot: true } });
    expect(events.filter((e) => e.data?.snapshot === true)).toHaveLength(1);
    expect(events[1]).toMatchObject({ event: 'status', data: { status: 'running' } });
    expect(events.at(-1)?.event).toBe('done');
  });
});

describe('templates per account, params with several targets (item 10)', () => {
  it("lets an account see and run its own and global templates, never another account's", async () => {
    const body = (name: string, owner?: string) => ({
      name,
      description: `${name} template`,
      workflow: emptyImage(16, 16),
      params: [
        {
          name: 'size',
          type: 'integer',
          minimum: 1,
          maximum: 64,
          default: 16,
          targets: [
            { node: '1', input: 'width' },
            { node: '1', input: 'height' },
          ],
        },
      ],
      ...(owner === undefined ? {} : { account_id: owner }),
    });
    expect((await server.admin('POST', '/v1/admin/templates', body('square'))).status).toBe(201);
    const own = await server.admin('POST', '/v1/admin/templates', body('alice-square', alice.accountId));
    expect(own.status).toBe(201);
    expect(own.body.account_id).toBe(alice.accountId);

    const listA = await a.call('GET', '/v1/templates');
    expect(listA.status).toBe(200);
    const byName = new Map(listA.body.data.map((t: any) => [t.name, t]));
    expect(byName.get('alice-square')).toMatchObject({ scope: 'account' });
    expect(byName.get('square')).toMatchObject({
      scope: 'global',
      params_schema: { properties: { size: { type: 'integer', minimum: 1, maximum: 64, default: 16 } } },
    });
    const listB = await b.call('GET', '/v1/templates');
    expect(listB.body.data.map((t: any) => t.name)).toContain('square');
    expect(listB.body.data.map((t: any) => t.name)).not.toContain('alice-square');

    const refused = await b.submit({ template: 'alice-square', params: { size: 8 } });
    expect(refused.status).toBe(422);
    expect(refused.body.code).toBe('template_not_found');

    const r = await a.submit({ template: 'alice-square', params: { size: 24 } });
    expect(r.status).toBe(202);
    const job = await waitForJob(a, r.body.id, isTerminal);
    expect(job.status).toBe('completed');
    const res = await fetch(`${server.url}${job.outputs[0].url}`, {
      headers: { authorization: `Bearer ${alice.key}`, 'x-user-id': 'alice' },
    });
    const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
    // One `size` set both the width and the height.
    expect([meta.width, meta.height]).toEqual([24, 24]);
  });

  it("keeps accounts' templates out of /openapi.json", async () => {
    const doc: any = await (await fetch(`${server.url}/openapi.json`)).json();
    const names = Object.keys(doc.components.schemas).filter((n) => n.startsWith('Template_'));
    expect(names).toContain('Template_square');
    expect(names).not.toContain('Template_alice-square');
  });

  it('refuses an owner that does not exist', async () => {
    const r = await server.admin('POST', '/v1/admin/templates', {
      name: 'orphan',
      workflow: emptyImage(8),
      account_id: 'acct_missing',
    });
    expect(r.status).toBe(400);
    expect(r.body.code).toBe('validation_failed');
    expect(r.body.errors[0].path).toBe('body.account_id');
  });
});

/** Keys in camelCase anywhere in `value`, outside what the user or ComfyUI named (workflows, schemas, metadata). */
function camelKeys(value: unknown, path = ''): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => camelKeys(v, `${path}[${i}]`));
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([k, v]) => {
    const here = /[a-z][A-Z]/.test(k) ? [`${path}.${k}`] : [];
    const opaque = ['workflow', 'metadata', 'params_schema', 'params', 'inputs', 'limits'].includes(k);
    return opaque ? here : [...here, ...camelKeys(v, `${path}.${k}`)];
  });
}

describe('one naming style (item 10)', () => {
  it('sends snake_case in job JSON, events (the done error too), templates and admin views', async () => {
    const failing = {
      '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
      '2': { class_type: 'ImageBlur', inputs: { image: ['1', 0], blur_radius: 20, sigma: 1 } },
      '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'x' } },
    };
    const r = await a.submit({ workflow: failing });
    expect(r.status).toBe(202);
    const job = await waitForJob(a, r.body.id, isTerminal);
    expect(job.error).toMatchObject({ code: 'execution_error', node_id: '2' });
    const events = await readSse(`${server.url}/v1/jobs/${job.id}/events`, {
      authorization: `Bearer ${alice.key}`,
      'x-user-id': 'alice',
    });
    // The done event's error was the stored record (`nodeId`), not the job JSON's.
    expect(events.at(-1)?.data.error).toEqual(job.error);
    const bodies: unknown[] = [
      job,
      events.map((e) => e.data),
      (await a.call('GET', '/v1/templates')).body,
      (await a.usage()).body,
      (await server.admin('GET', '/v1/admin/templates')).body,
      (await server.admin('GET', '/v1/admin/workers')).body,
      (await server.admin('GET', '/v1/admin/fleet')).body,
      (await server.admin('POST', '/v1/admin/reconcile')).body,
      (await server.admin('GET', `/v1/admin/accounts/${alice.accountId}`)).body,
    ];
    expect(camelKeys(bodies)).toEqual([]);
  });
});
