/**
 * GET /v1/jobs/{id}/outputs/{index} of a just-finished job is served from the copy this process kept when it
 * stored the output (src/media/storage/recent-outputs.ts): the same bytes, behind the same auth and ownership
 * checks — another tenant, or another user of the same tenant, gets 404 as for any job not theirs.
 */
import { rmSync } from 'node:fs';
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

async function worker(method: string, path: string, token: string, id: string | null, body: unknown) {
  const bytes = Buffer.isBuffer(body);
  return await fetch(`${server.url}/v1/worker${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': bytes ? 'image/png' : 'application/json',
      ...(id === null ? {} : { [WORKER_ID_HEADER]: id }),
    },
    body: bytes ? body : JSON.stringify(body),
  });
}

describe('output download of a just-finished job', () => {
  it('serves the stored bytes from memory, only to the job owner', async () => {
    const issued = await server.admin('POST', '/v1/admin/worker-tokens', { name: 'gpu', pool: 'default' });
    const token: string = issued.body.token;
    const reg = await worker('POST', '/register', token, null, { name: 'w' });
    const workerId = ((await reg.json()) as { worker_id: string }).worker_id;

    const tenant = await createTenant(server);
    const owner = client(server, tenant.key, 'alice');
    const job = await owner.submit({ workflow: invertWorkflow() });
    const claim = (await (await worker('POST', '/claim', token, workerId, { wait_ms: 0 })).json()) as any;
    expect(claim.job.id).toBe(job.body.id);
    const png = await solidPng(4, 4, [9, 8, 7]);
    const path = `/jobs/${job.body.id}/output-files/0?node_id=3&filename=out.png`;
    const stored = (await (await worker('PUT', path, token, workerId, png)).json()) as Record<
      string,
      unknown
    >;
    const done = await worker('POST', `/jobs/${job.body.id}/complete`, token, workerId, {
      outputs: [{ ...stored, index: 0 }],
    });
    expect(done.status).toBe(200);

    // Gone from disk behind the server's back: only the copy in memory can answer now.
    rmSync(join(server.dir, 'objects', ...String(stored.object_key).split('/')));
    const url = `${server.url}/v1/jobs/${job.body.id}/outputs/0`;
    const mine = await fetch(url, {
      headers: { authorization: `Bearer ${tenant.key}`, 'x-user-id': 'alice' },
    });
    expect(mine.status).toBe(200);
    expect(mine.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await mine.arrayBuffer()).equals(png)).toBe(true);

    const stranger = client(server, (await createTenant(server)).key, 'alice');
    expect((await stranger.call('GET', `/v1/jobs/${job.body.id}/outputs/0`)).status).toBe(404);
    const colleague = client(server, tenant.key, 'bob');
    expect((await colleague.call('GET', `/v1/jobs/${job.body.id}/outputs/0`)).status).toBe(404);
  });
});
