/**
 * A remote worker reports its outputs' object keys when it completes a job; the server only accepts a key of
 * the shape it builds at upload (`jobs/<job>/outputs/<attempt>.<seq>-<filename>`, or `<index>-<filename>` from
 * the previous release's route) for this job and the output's filename, so a lying worker can neither point the
 * owner at another job's object nor store a key (`..`, `\`, NUL, empty segments) that makes the download fail 500.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WORKER_ID_HEADER } from '../../src/workers/worker-protocol.js';
import {
  client,
  createTenant,
  invertWorkflow,
  solidPng,
  startTestServer,
  type TestServer,
} from '../support/server.js';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ settings: { comfyLite: 0 } });
});
afterAll(async () => {
  await server.close();
});

async function workerPost(
  path: string,
  token: string,
  workerId: string | null,
  body: unknown,
): Promise<Response> {
  return await fetch(`${server.url}/v1/worker${path}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      ...(workerId === null ? {} : { [WORKER_ID_HEADER]: workerId }),
    },
    body: JSON.stringify(body),
  });
}

async function upload(path: string, token: string, workerId: string, body: Buffer): Promise<Response> {
  return await fetch(`${server.url}/v1/worker${path}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, [WORKER_ID_HEADER]: workerId, 'content-type': 'image/png' },
    body,
  });
}

/** A registered remote worker holding a freshly submitted job, and the job's owner. */
async function workerWithJob(): Promise<{
  token: string;
  workerId: string;
  jobId: string;
  c: ReturnType<typeof client>;
}> {
  const issued = await server.admin('POST', '/v1/admin/worker-tokens', { name: 'gpu', pool: 'default' });
  expect(issued.status).toBe(201);
  const token: string = issued.body.token;
  const reg = await workerPost('/register', token, null, { name: 'w' });
  const workerId: string = ((await reg.json()) as { worker_id: string }).worker_id;
  const t = await createTenant(server);
  const c = client(server, t.key, 'alice');
  const job = await c.submit({ workflow: invertWorkflow() });
  expect(job.status).toBe(202);
  const claim = (await (await workerPost('/claim', token, workerId, { wait_ms: 0 })).json()) as any;
  expect(claim.job.id).toBe(job.body.id);
  return { token, workerId, jobId: job.body.id, c };
}

describe('outputs reported by a remote worker', () => {
  it('keys other than the ones the server builds are refused with 400; the owner download still works', async () => {
    const other = await workerWithJob();
    const { token, workerId, jobId, c } = await workerWithJob();
    const png = await solidPng(4, 4, [1, 2, 3]);
    const up = await upload(`/jobs/${jobId}/output-files/0?node_id=3&filename=out.png`, token, workerId, png);
    expect(up.status).toBe(200);
    const stored = (await up.json()) as Record<string, unknown>;
    const prefix = `jobs/${jobId}/outputs/`;
    expect(stored.object_key).toBe(`${prefix}1.0-out.png`);
    expect(stored).not.toHaveProperty('index');
    const honest = { ...stored, index: 0 };
    // Storing announced nothing: the job lists no output before it completes.
    expect((await c.get(jobId)).body.outputs).toEqual([]);

    // Another job's file, stored by its own worker under a key of the very same shape.
    const theirs = await upload(
      `/jobs/${other.jobId}/output-files/0?node_id=3&filename=out.png`,
      other.token,
      other.workerId,
      png,
    );
    const theirKey = ((await theirs.json()) as { object_key: string }).object_key;
    expect(theirKey).toBe(`jobs/${other.jobId}/outputs/1.0-out.png`);

    const lies: Array<Record<string, unknown>> = [
      { object_key: theirKey },
      { object_key: `${prefix}../../other/outputs/0-out.png` },
      { object_key: `${prefix}..` },
      { object_key: `${prefix}/1.0-out.png` },
      { object_key: `${prefix}1.0-out.png\\..\\x` },
      { object_key: `${prefix}1.0-out.png\0` },
      { object_key: `${prefix}1.0-other.png` },
      { object_key: `${prefix}x.0-out.png` },
      { object_key: `${prefix}01.0-out.png` },
      { object_key: `${prefix}out.png` },
      { content_type: 'text/html\r\nset-cookie: a=b' },
      { content_type: '' },
    ];
    for (const lie of lies) {
      const r = await workerPost(`/jobs/${jobId}/complete`, token, workerId, {
        outputs: [{ ...honest, ...lie }],
      });
      expect(r.status, JSON.stringify(lie)).toBe(400);
      expect(((await r.json()) as any).code).toBe('validation_failed');
    }
    const twice = await workerPost(`/jobs/${jobId}/complete`, token, workerId, {
      outputs: [honest, { ...honest, index: 1 }],
    });
    expect(twice.status).toBe(400);
    expect((await c.get(jobId)).body.status).toBe('running');

    const ok = await workerPost(`/jobs/${jobId}/complete`, token, workerId, { outputs: [honest] });
    expect(ok.status).toBe(200);
    const done = await c.get(jobId);
    expect(done.body.status).toBe('completed');
    const download = await c.call('GET', `/v1/jobs/${jobId}/outputs/0`);
    expect(download.status).toBe(200);
  });

  it('an agent of the previous release (per-output upload by index) still completes its job', async () => {
    const { token, workerId, jobId, c } = await workerWithJob();
    const png = await solidPng(4, 4, [1, 2, 3]);
    const up = await upload(`/jobs/${jobId}/outputs/0?node_id=3&filename=out.png`, token, workerId, png);
    expect(up.status).toBe(200);
    const honest = (await up.json()) as Record<string, unknown>;
    // This attempt's key, with the index as the arrival number (it used to be `0-out.png` in every run).
    expect(honest.object_key).toBe(`jobs/${jobId}/outputs/1.0-out.png`);
    expect((await c.get(jobId)).body.outputs).toEqual([]);
    const ok = await workerPost(`/jobs/${jobId}/complete`, token, workerId, { outputs: [honest] });
    expect(ok.status).toBe(200);
    const done = await c.get(jobId);
    expect(done.body.status).toBe('completed');
    expect(done.body.outputs).toHaveLength(1);
    const download = await c.call('GET', `/v1/jobs/${jobId}/outputs/0`);
    expect(download.status).toBe(200);
  });

  it('a reported media type in any letter case never serves SVG inline on the API origin', async () => {
    const { token, workerId, jobId, c } = await workerWithJob();
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>');
    const up = await upload(`/jobs/${jobId}/output-files/0?node_id=3&filename=out.svg`, token, workerId, svg);
    expect(up.status).toBe(200);
    const stored = (await up.json()) as Record<string, unknown>;
    // Media types are case-insensitive: a browser renders image/SVG+XML as SVG, scripts included.
    const lie = { ...stored, index: 0, content_type: 'image/SVG+XML' };
    const ok = await workerPost(`/jobs/${jobId}/complete`, token, workerId, { outputs: [lie] });
    expect(ok.status).toBe(200);
    const download = await c.call('GET', `/v1/jobs/${jobId}/outputs/0`);
    expect(download.status).toBe(200);
    expect(download.headers.get('content-disposition')).toMatch(/^attachment;/);
  });

  it('an upload whose seq is not a canonical decimal number is refused 400 and overwrites nothing', async () => {
    const { token, workerId, jobId } = await workerWithJob();
    const png = await solidPng(4, 4, [1, 2, 3]);
    const first = await upload(
      `/jobs/${jobId}/output-files/0?node_id=3&filename=out.png`,
      token,
      workerId,
      png,
    );
    expect(first.status).toBe(200);
    const other = Buffer.from('not the first file');
    for (const seq of ['', '%20', '0x0', '1e1', '-0', '00', '1.0']) {
      for (const route of ['output-files', 'outputs']) {
        const r = await upload(
          `/jobs/${jobId}/${route}/${seq}?node_id=3&filename=out.png`,
          token,
          workerId,
          other,
        );
        expect([route, seq, r.status]).toEqual([route, seq, 400]);
        expect(((await r.json()) as { code: string }).code).toBe('validation_failed');
      }
    }
    const path = join(server.dir, 'objects', 'jobs', jobId, 'outputs', '1.0-out.png');
    expect(readFileSync(path)).toEqual(png);
  });

  it('an upload for a job the worker does not hold is refused 409 and stores nothing', async () => {
    const other = await workerWithJob();
    const { token, workerId } = await workerWithJob();
    const png = await solidPng(4, 4, [1, 2, 3]);
    const path = `/jobs/${other.jobId}/output-files/0?node_id=3&filename=out.png`;
    const r = await upload(path, token, workerId, png);
    expect(r.status).toBe(409);
    expect(existsSync(join(server.dir, 'objects', 'jobs', other.jobId, 'outputs'))).toBe(false);
  });
});
