/**
 * A remote worker reports its outputs' object keys when it completes a job; the server only accepts the key it
 * built itself at upload (`jobs/<job>/outputs/<index>-<filename>`), so a lying worker can neither point the
 * owner at another object nor store a key (`..`, `\`, NUL, empty segments) that makes the download fail 500.
 */
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

describe('outputs reported by a remote worker', () => {
  it('keys other than the one the server built are refused with 400; the owner download still works', async () => {
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

    const png = await solidPng(4, 4, [1, 2, 3]);
    const up = await fetch(
      `${server.url}/v1/worker/jobs/${job.body.id}/outputs/0?node_id=3&filename=out.png`,
      {
        method: 'PUT',
        headers: {
          authorization: `Bearer ${token}`,
          [WORKER_ID_HEADER]: workerId,
          'content-type': 'image/png',
        },
        body: png,
      },
    );
    expect(up.status).toBe(200);
    const honest = (await up.json()) as Record<string, unknown>;
    const prefix = `jobs/${job.body.id}/outputs/`;
    expect(honest.object_key).toBe(`${prefix}0-out.png`);

    const lies: Array<Record<string, unknown>> = [
      { object_key: `${prefix}../../other/outputs/0-out.png` },
      { object_key: `${prefix}..` },
      { object_key: `${prefix}/0-out.png` },
      { object_key: `${prefix}0-out.png\\..\\x` },
      { object_key: `${prefix}0-out.png\0` },
      { object_key: `${prefix}0-other.png` },
      { object_key: `${prefix}1-out.png` },
      { content_type: 'text/html\r\nset-cookie: a=b' },
      { content_type: '' },
    ];
    for (const lie of lies) {
      const r = await workerPost(`/jobs/${job.body.id}/complete`, token, workerId, {
        outputs: [{ ...honest, ...lie }],
      });
      expect(r.status, JSON.stringify(lie)).toBe(400);
      expect(((await r.json()) as any).code).toBe('validation_failed');
    }
    expect((await c.get(job.body.id)).body.status).toBe('running');

    const ok = await workerPost(`/jobs/${job.body.id}/complete`, token, workerId, { outputs: [honest] });
    expect(ok.status).toBe(200);
    const done = await c.get(job.body.id);
    expect(done.body.status).toBe('completed');
    const download = await c.call('GET', `/v1/jobs/${job.body.id}/outputs/0`);
    expect(download.status).toBe(200);
  });
});
