/** `outputs.download` follows the 302 to a presigned S3 URL (a real s3rver) without sending the API key there. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArrakisClient } from 'arrakis/client';
import { s3StorageSetting, startS3, type RunningS3 } from '../media/s3rver-server.js';
import { client, createTenant, invertWorkflow, startTestServer, type TestServer } from '../support/server.js';

let s3: RunningS3;
let server: TestServer;

beforeAll(async () => {
  s3 = await startS3();
  const storage = s3StorageSetting(s3);
  server = await startTestServer({ settings: { comfyLite: 1, storage, presignTtlSeconds: 60 } });
});
afterAll(async () => {
  await server.close();
  await s3.stop();
});

describe('outputs.download on S3 storage', () => {
  it('returns the bytes behind the presigned redirect', async () => {
    const t = await createTenant(server);
    const seen: Array<{ url: string; auth: string | null }> = [];
    const c = new ArrakisClient({
      baseUrl: server.url,
      apiKey: t.key,
      userId: 'alice',
      fetch: async (input, init) => {
        seen.push({ url: input, auth: new Headers(init?.headers).get('authorization') });
        return await fetch(input, init);
      },
    });
    const job = await c.jobs.create({ workflow: invertWorkflow() }, { wait: 10 });
    expect(job.status).toBe('completed');
    const direct = await client(server, t.key, 'alice').call('GET', `/v1/jobs/${job.id}/outputs/0`);
    expect(direct.status).toBe(302);
    const bytes = await c.outputs.download(job.id, 0);
    expect([...bytes.subarray(1, 4)]).toEqual([0x50, 0x4e, 0x47]); // "PNG"
    expect(bytes.length).toBe(job.outputs[0]?.size);
    const presigned = seen.find((s) => s.url.startsWith(s3.endpoint));
    expect(presigned).toBeDefined();
    expect(presigned?.auth).toBeNull();
  });

  it('inlines the bytes in a Prefer: wait answer, read from the bucket by the control plane', async () => {
    const t = await createTenant(server);
    const c = new ArrakisClient({ baseUrl: server.url, apiKey: t.key, userId: 'bob' });
    const job = await c.jobs.create({ workflow: invertWorkflow() }, { wait: 10, inlineOutputs: true });
    const inline = Buffer.from(job.outputs[0]?.data ?? '', 'base64');
    expect([...inline.subarray(1, 4)]).toEqual([0x50, 0x4e, 0x47]);
    expect(Buffer.from(await c.outputs.download(job.id, 0)).equals(inline)).toBe(true);
  });
});
