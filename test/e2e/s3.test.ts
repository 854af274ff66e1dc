/** Outputs and inputs on S3 (a real s3rver): jobs run end to end and outputs answer 302 to a presigned URL. */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { s3StorageSetting, startS3, type RunningS3 } from '../media/s3rver-server.js';
import {
  client,
  createTenant,
  isTerminal,
  startTestServer,
  waitForJob,
  type TestServer,
  loadInvertWorkflow,
  solidPng,
} from '../support/server.js';

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

describe('S3 storage end to end', () => {
  it('stores a base64 input and the output in the bucket; the output answers 302 to a presigned URL', async () => {
    const t = await createTenant(server);
    const c = client(server, t.key, 'alice');
    const input = await solidPng(3, 2, [200, 100, 0]);
    const r = await c.submit({
      workflow: loadInvertWorkflow(),
      inputs: { photo: { base64: input.toString('base64'), filename: 'photo.png' } },
    });
    expect(r.status).toBe(202);
    const job = await waitForJob(c, r.body.id, isTerminal);
    expect(job.status).toBe('completed');
    const out = await c.call('GET', job.outputs[0].url);
    expect(out.status).toBe(302);
    const location = out.headers.get('location')!;
    expect(location.startsWith(s3.endpoint)).toBe(true);
    expect(location).toContain('X-Amz-Expires=60');
    const png = Buffer.from(await (await fetch(location)).arrayBuffer());
    const { data } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    // ComfyUI float semantics: 1 - 200/255 saves as 54 (truncated), 1 - 100/255 as 155.
    expect([...data.subarray(0, 3)]).toEqual([54, 155, 255]);
  });
});
