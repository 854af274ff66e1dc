/**
 * UI-format workflows (what ComfyUI's "Save" writes) submitted through the HTTP API and run on comfy-lite:
 * converted with the definitions the worker reported from `/object_info`, as jobs and as templates.
 */
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  client,
  createTenant,
  isTerminal,
  solidPng,
  startTestServer,
  waitForJob,
  type TestServer,
} from '../support/server.js';

let server: TestServer;
let c: ReturnType<typeof client>;
let key: string;

function example(name: string): Record<string, unknown> {
  const parsed: unknown = JSON.parse(
    readFileSync(new URL(`../../examples/ui/${name}`, import.meta.url), 'utf8'),
  );
  return parsed as Record<string, unknown>;
}

/** Submits, retrying while the worker has not yet reported its node definitions (it does so just after start). */
async function submit(body: unknown): Promise<{ status: number; body: any }> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const r = await c.submit(body);
    const waiting = r.status === 422 && String(r.body.detail).includes('no worker has reported');
    if (!waiting || Date.now() > deadline) return r;
    await new Promise((res) => setTimeout(res, 50));
  }
}

async function output(job: any): Promise<{ data: Buffer; info: sharp.OutputInfo }> {
  const res = await fetch(`${server.url}${job.outputs[0].url}`, {
    headers: { authorization: `Bearer ${key}`, 'x-user-id': 'alice' },
  });
  expect(res.status).toBe(200);
  return await sharp(Buffer.from(await res.arrayBuffer()))
    .raw()
    .toBuffer({ resolveWithObject: true });
}

beforeAll(async () => {
  server = await startTestServer({ settings: { comfyLite: 1 } });
  const t = await createTenant(server, {
    limits: { max_active_jobs_per_user: 20, submit_rate_per_user: 1000, submit_burst_per_user: 1000 },
  });
  key = t.key;
  c = client(server, key, 'alice');
});
afterAll(async () => {
  await server.close();
});

describe('UI-format workflows end to end', () => {
  it('runs the UI export of invert: 64×64 of 255 - 16', async () => {
    const r = await submit({ workflow: example('invert.json') });
    expect(r.status).toBe(202);
    const job = await waitForJob(c, r.body.id, isTerminal);
    expect(job.status).toBe('completed');
    const { data, info } = await output(job);
    expect([info.width, info.height]).toEqual([64, 64]);
    for (const v of data.subarray(0, 12)) expect([238, 239]).toContain(v);
  });

  it('runs the UI export of blur (with a note and a group)', async () => {
    const r = await submit({ workflow: example('blur.json') });
    expect(r.status).toBe(202);
    const job = await waitForJob(c, r.body.id, isTerminal);
    expect(job.status).toBe('completed');
    const { info } = await output(job);
    expect([info.width, info.height]).toEqual([32, 32]);
  });

  it('runs the UI export of load → scale → save on an uploaded input', async () => {
    const photo = await solidPng(16, 12, [200, 10, 10]);
    const r = await submit({
      workflow: example('load-scale-save.json'),
      inputs: { photo: { base64: photo.toString('base64'), filename: 'photo.png' } },
    });
    expect(r.status).toBe(202);
    const job = await waitForJob(c, r.body.id, isTerminal);
    expect(job.status).toBe('completed');
    const { data, info } = await output(job);
    expect([info.width, info.height]).toEqual([8, 6]);
    expect([...data.subarray(0, 3)]).toEqual([200, 10, 10]);
  });

  it('answers 422 workflow_invalid naming the node and "Save (API Format)" for an unknown node type', async () => {
    const ui = example('invert.json');
    const nodes = ui.nodes as Array<Record<string, unknown>>;
    nodes[1] = { ...nodes[1], type: 'FancyCustomInvert' };
    const r = await submit({ workflow: ui });
    expect(r.status).toBe(422);
    expect(r.body.code).toBe('workflow_invalid');
    expect(r.body.node_ids).toEqual(['2']);
    expect(r.body.detail).toMatch(/FancyCustomInvert.*Save \(API Format\)/);
  });

  it('accepts a UI-format template; params name the UI node ids', async () => {
    await submit({ workflow: example('invert.json') }); // the worker has reported by now
    const t = await server.admin('POST', '/v1/admin/templates', {
      name: 'ui-invert',
      workflow: example('invert.json'),
      params: [{ name: 'size', type: 'integer', node: '1', input: 'width', minimum: 1, maximum: 64 }],
    });
    expect(t.status).toBe(201);
    expect(t.body.workflow['2']).toMatchObject({ class_type: 'ImageInvert', inputs: { image: ['1', 0] } });
    const r = await c.submit({ template: 'ui-invert', params: { size: 5 } });
    expect(r.status).toBe(202);
    const job = await waitForJob(c, r.body.id, isTerminal);
    expect(job.status).toBe('completed');
    expect((await output(job)).info.width).toBe(5);
  });
});
