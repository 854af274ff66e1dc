/**
 * Jobs running on ComfyUI end to end, through the HTTP API with real sockets: a control plane with
 * in-process comfy-lite workers, outputs read back and checked pixel by pixel.
 */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSse } from '../support/sse.js';
import {
  client,
  createTenant,
  delayWorkflow,
  invertWorkflow,
  isTerminal,
  startTestServer,
  waitForJob,
  type TestServer,
  loadInvertWorkflow,
  solidPng,
} from '../support/server.js';

let server: TestServer;
let c: ReturnType<typeof client>;
let key: string;

beforeAll(async () => {
  server = await startTestServer({ settings: { comfyLite: 2 }, comfyLiteInProcess: true });
  const t = await createTenant(server, {
    limits: { max_active_jobs_per_user: 50, submit_rate_per_user: 1000, submit_burst_per_user: 1000 },
  });
  key = t.key;
  c = client(server, key, 'alice');
});
afterAll(async () => {
  await server.close();
});

async function download(url: string, user = 'alice'): Promise<Buffer> {
  const res = await fetch(`${server.url}${url}`, {
    headers: { authorization: `Bearer ${key}`, 'x-user-id': user },
  });
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

describe('running jobs on comfy-lite', () => {
  it('invert workflow completes; output pixels are 255 - 16 in ComfyUI float semantics', async () => {
    const r = await c.submit({ workflow: invertWorkflow(0x101010, 8) });
    expect(r.status).toBe(202);
    const job = await waitForJob(c, r.body.id, isTerminal);
    expect(job.status).toBe('completed');
    expect(job.outputs).toHaveLength(1);
    expect(job.outputs[0]).toMatchObject({ index: 0, node_id: '3', content_type: 'image/png' });
    expect(job.queue_wait_s).toBeGreaterThanOrEqual(0);
    expect(job.run_time_s).toBeGreaterThan(0);
    expect(job.total_time_s).toBeGreaterThanOrEqual(job.run_time_s);
    const png = await download(job.outputs[0].url);
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect(info.width).toBe(8);
    for (const v of data.subarray(0, info.channels * 4)) expect([238, 239]).toContain(v);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/arrakis_job_queue_wait_seconds_count\{pool="default"\} [1-9]/);
    expect(metrics).toMatch(/arrakis_job_run_time_seconds_count\{pool="default"\} [1-9]/);
  });

  it('LoadImage reads a base64 input given with the job', async () => {
    const input = await solidPng(4, 3, [0, 100, 255]);
    const r = await c.submit({
      workflow: loadInvertWorkflow(),
      inputs: { photo: { base64: input.toString('base64'), filename: 'photo.png' } },
    });
    expect(r.status).toBe(202);
    const job = await waitForJob(c, r.body.id, isTerminal);
    expect(job.status).toBe('completed');
    const { data, info } = await sharp(await download(job.outputs[0].url))
      .raw()
      .toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([4, 3]);
    expect([...data.subarray(0, 3)]).toEqual([255, 155, 0]);
  });

  it('a corrupt base64 input is refused at submission with input_invalid', async () => {
    const r = await c.submit({
      workflow: {
        '1': { class_type: 'LoadImage', inputs: { image: 'photo' } },
        '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'x' } },
      },
      inputs: {
        photo: { base64: Buffer.from('\x89PNG\r\n\x1a\nnot really').toString('base64'), filename: 'p.png' },
      },
    });
    expect(r.status).toBe(400);
    expect(r.body.code).toBe('input_invalid');
  });

  it('progress and done are visible over SSE', async () => {
    const r = await c.submit({ workflow: delayWorkflow(0.6) });
    const events = await readSse(`${server.url}/v1/jobs/${r.body.id}/events`, {
      authorization: `Bearer ${key}`,
      'x-user-id': 'alice',
    });
    const kinds = events.map((e) => e.event);
    expect(kinds).toContain('status');
    expect(kinds).toContain('progress');
    expect(kinds[kinds.length - 1]).toBe('done');
    const progress = events.filter((e) => e.event === 'progress').map((e) => e.data);
    expect(progress.some((p) => p.value > 0 && p.max > 0)).toBe(true);
  });

  it('cancel of a running job ends cancelled within 1 s and comfy-lite saw the interrupt', async () => {
    const interrupts: string[] = [];
    for (const lite of server.cp.workers.comfyLites) {
      lite.events.on('interrupt', (e: { promptId: string | null }) => interrupts.push(String(e.promptId)));
    }
    const r = await c.submit({ workflow: delayWorkflow(30) });
    await waitForJob(c, r.body.id, (j) => j.status === 'running' && j.progress !== null);
    const t0 = Date.now();
    const del = await c.cancel(r.body.id);
    expect(del.status).toBe(202);
    expect(del.body.cancel_requested).toBe(true);
    const job = await waitForJob(c, r.body.id, isTerminal, 5000);
    expect(job.status).toBe('cancelled');
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(interrupts).toContain(r.body.id);
    expect((await c.cancel(r.body.id)).status).toBe(409);
  });

  it('two workers run two jobs at once', async () => {
    const a = await c.submit({ workflow: delayWorkflow(1) });
    const b = await c.submit({ workflow: delayWorkflow(1) });
    await waitForJob(c, a.body.id, (j) => j.status !== 'queued');
    const bj = await waitForJob(c, b.body.id, (j) => j.status !== 'queued', 1000);
    expect(bj.status).toBe('running');
    await waitForJob(c, a.body.id, isTerminal);
    await waitForJob(c, b.body.id, isTerminal);
  });

  it('identical workflows submitted twice each produce their own output file', async () => {
    const one = await c.submit({ workflow: invertWorkflow(0x202020) });
    const j1 = await waitForJob(c, one.body.id, isTerminal);
    const two = await c.submit({ workflow: invertWorkflow(0x202020) });
    const j2 = await waitForJob(c, two.body.id, isTerminal);
    expect([j1.status, j2.status]).toEqual(['completed', 'completed']);
    expect(j1.outputs).toHaveLength(1);
    expect(j2.outputs).toHaveLength(1);
    const [b1, b2] = [await download(j1.outputs[0].url), await download(j2.outputs[0].url)];
    expect(b1.length).toBeGreaterThan(0);
    expect(b2.length).toBeGreaterThan(0);
    const files = new Set([j1.outputs[0].filename, j2.outputs[0].filename]);
    expect(files.size + Number(j1.id !== j2.id)).toBeGreaterThanOrEqual(2);
  });

  it('the WebSocket dropped mid-job: the job still completes via history', async () => {
    const r = await c.submit({ workflow: delayWorkflow(0.8) });
    await waitForJob(c, r.body.id, (j) => j.status === 'running');
    for (const lite of server.cp.workers.comfyLites) lite.dropSockets();
    const job = await waitForJob(c, r.body.id, isTerminal);
    expect(job.status).toBe('completed');
    expect(job.outputs).toHaveLength(1);
  });

  it('an unknown node type is refused with 422 naming the node', async () => {
    const r = await c.submit({
      workflow: {
        '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
        '7': { class_type: 'TotallyMadeUpNode', inputs: { image: ['1', 0] } },
        '3': { class_type: 'SaveImage', inputs: { images: ['7', 0], filename_prefix: 'x' } },
      },
    });
    expect(r.status).toBe(422);
    expect(r.body.code).toBe('workflow_invalid');
    expect(r.body.node_ids).toEqual(['7']);
  });

  it('a user with 20 queued jobs does not delay another user with 2 behind all of them', async () => {
    const heavy = client(server, key, 'heavy');
    const light = client(server, key, 'light');
    const heavyIds: string[] = [];
    for (let i = 0; i < 20; i++)
      heavyIds.push((await heavy.submit({ workflow: delayWorkflow(0.15) })).body.id);
    const lightIds = [
      (await light.submit({ workflow: delayWorkflow(0.15) })).body.id,
      (await light.submit({ workflow: delayWorkflow(0.15) })).body.id,
    ];
    const lightJobs = await Promise.all(lightIds.map((id) => waitForJob(light, id, isTerminal, 20_000)));
    const heavyJobs = await Promise.all(heavyIds.map((id) => waitForJob(heavy, id, isTerminal, 30_000)));
    const lastLightStart = Math.max(...lightJobs.map((j) => Date.parse(j.started_at)));
    const heavyStartedBefore = heavyJobs.filter((j) => Date.parse(j.started_at) < lastLightStart).length;
    expect(heavyStartedBefore).toBeLessThanOrEqual(6);
  });
});

describe('multipart submissions', () => {
  async function png(): Promise<Buffer> {
    return await solidPng(2, 2, [10, 20, 30]);
  }

  function form(request: unknown, files: Record<string, Buffer>): FormData {
    const f = new FormData();
    f.set('request', JSON.stringify(request));
    for (const [name, bytes] of Object.entries(files))
      f.set(name, new Blob([bytes], { type: 'image/png' }), `${name}.png`);
    return f;
  }

  const loadWorkflow = loadInvertWorkflow();

  async function post(body: FormData) {
    const res = await fetch(`${server.url}/v1/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'x-user-id': 'alice' },
      body,
    });
    return { status: res.status, body: (await res.json()) as any };
  }

  it('a file part named like an input feeds LoadImage', async () => {
    const r = await post(form({ workflow: loadWorkflow }, { photo: await png() }));
    expect(r.status).toBe(202);
    const job = await waitForJob(c, r.body.id, isTerminal);
    expect(job.status).toBe('completed');
    const { data } = await sharp(await download(job.outputs[0].url))
      .raw()
      .toBuffer({ resolveWithObject: true });
    expect([...data.subarray(0, 3)]).toEqual([245, 235, 225]);
  });

  it('refuses a corrupt file, a missing request field and an over-size file', async () => {
    const corrupt = await post(
      form({ workflow: loadWorkflow }, { photo: Buffer.from('not an image at all') }),
    );
    expect(corrupt.status).toBe(400);
    expect(corrupt.body.code).toBe('input_invalid');
    const noRequest = new FormData();
    noRequest.set('photo', new Blob([await png()]), 'p.png');
    const missing = await post(noRequest);
    expect(missing.status).toBe(400);
    expect(missing.body.code).toBe('validation_failed');
    const huge = await post(form({ workflow: loadWorkflow }, { photo: Buffer.alloc(26 * 1024 * 1024, 1) }));
    expect(huge.status).toBe(413);
    expect(huge.body.code).toBe('payload_too_large');
  });
});
