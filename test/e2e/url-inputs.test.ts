/** URL inputs through the whole control plane: fetched through the SSRF guard before the job can run. */
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/util/free-port.js';
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

let files: Server;
let port = 0;
let otherPort = 0;
let server: TestServer;
let png: Buffer;

const loadWorkflow = loadInvertWorkflow();

beforeAll(async () => {
  png = await solidPng(2, 2, [0, 0, 0]);
  otherPort = await freePort();
  files = createServer((req, res) => {
    if (req.url === '/photo.png') res.writeHead(200, { 'content-type': 'image/png' }).end(png);
    else if (req.url === '/sneaky')
      res.writeHead(302, { location: `http://127.0.0.1:${otherPort}/secret` }).end();
    else if (req.url === '/text') res.writeHead(200, { 'content-type': 'image/png' }).end('not an image');
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => files.listen(0, '127.0.0.1', r));
  const addr = files.address();
  port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  server = await startTestServer({ settings: { comfyLite: 1, fetchAllow: [`127.0.0.1:${port}`] } });
});
afterAll(async () => {
  await server.close();
  await new Promise((r) => files.close(r));
});

describe('URL inputs end to end', () => {
  it('an allowlisted URL is fetched and LoadImage reads it', async () => {
    const t = await createTenant(server);
    const c = client(server, t.key, 'alice');
    const r = await c.submit({
      workflow: loadWorkflow,
      inputs: { photo: { url: `http://127.0.0.1:${port}/photo.png` } },
    });
    expect(r.status).toBe(202);
    const job = await waitForJob(c, r.body.id, isTerminal);
    expect(job.status).toBe('completed');
  });

  it('a redirect to a non-allowlisted private address fails input_fetch_blocked; a non-image input_fetch_failed', async () => {
    const t = await createTenant(server);
    const c = client(server, t.key, 'alice');
    const blocked = await c.submit({
      workflow: loadWorkflow,
      inputs: { photo: { url: `http://127.0.0.1:${port}/sneaky` } },
    });
    expect(blocked.status).toBe(202);
    const j1 = await waitForJob(c, blocked.body.id, isTerminal);
    expect(j1.status).toBe('failed');
    expect(j1.error.code).toBe('input_fetch_blocked');
    const text = await c.submit({
      workflow: loadWorkflow,
      inputs: { photo: { url: `http://127.0.0.1:${port}/text` } },
    });
    const j2 = await waitForJob(c, text.body.id, isTerminal);
    expect(j2.status).toBe('failed');
    expect(['input_fetch_failed', 'input_invalid']).toContain(j2.error.code);
    // Failed before running: the slots were released.
    expect((await c.usage()).body.active_jobs).toBe(0);
  });
});
