/**
 * ComfyHttp's own promises, against a plain HTTP server on 127.0.0.1: the call's timeout covers the body, a body
 * that fails mid-read is a ComfyUnavailableError like any other failure, and answers (error statuses included)
 * are read to the end so the keep-alive connection is reused.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { z } from 'zod';
import { ComfyUnavailableError } from '../../src/comfy/contract.js';
import { createComfyServer } from '../../src/comfy/http-client.js';
import { ComfyHttp } from '../../src/comfy/http.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

let server: Server | null = null;
let connections = 0;
const cleanups: Array<() => Promise<void>> = [];

async function serve(handler: Handler): Promise<string> {
  server = createServer(handler);
  connections = 0;
  server.on('connection', () => connections++);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
  server?.closeAllConnections();
  server?.close();
  server = null;
});

const file = { nodeId: '9', filename: 'a.png', subfolder: '', type: 'output' } as const;

it('turns a download whose body stalls past the timeout into ComfyUnavailableError', async () => {
  const url = await serve((_req, res) => {
    res.writeHead(200, { 'content-type': 'image/png', 'content-length': '1000' });
    res.write(Buffer.alloc(10)); // …and the other 990 bytes never come.
  });
  const client = createComfyServer(url, { requestTimeoutMs: 200 });
  cleanups.push(() => client.close());
  const error: unknown = await client.download(file).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ComfyUnavailableError);
  expect(String(error)).toMatch(/GET \/view \/a\.png failed: .*timeout/);
});

it('turns a body cut off by close() into ComfyUnavailableError', async () => {
  const url = await serve((_req, res) => {
    res.writeHead(200, { 'content-type': 'image/png', 'content-length': '1000' });
    res.write(Buffer.alloc(10));
  });
  const http = new ComfyHttp(url, 5_000);
  const response = await http.request('view', { query: { filename: 'a.png' } });
  expect(response.status).toBe(200);
  await http.close();
  const error: unknown = await http.readBytes(response, 'GET /view').catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ComfyUnavailableError);
  expect(String(error)).toMatch(/GET \/view failed: /);
});

it('times out a JSON answer whose body stalls, naming the failure rather than calling it not JSON', async () => {
  const url = await serve((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
    res.write('{"queue_running": [');
  });
  const http = new ComfyHttp(url, 200);
  cleanups.push(() => http.close());
  const error: unknown = await http.getJson('queue', z.object({})).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ComfyUnavailableError);
  expect(String(error)).toMatch(/GET queue failed: .*timeout/);
});

it('reads error answers and command answers to the end, so every call reuses one connection', async () => {
  let calls = 0;
  const url = await serve((req, res) => {
    calls++;
    req.resume();
    if (req.url === '/queue') {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`boom ${'x'.repeat(200 * 1024)}`);
    } else if (req.url === '/interrupt') {
      // More than a stream buffers by itself: an unread answer this size would hold its connection.
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ padding: 'x'.repeat(100 * 1024) }));
    } else {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok": true}');
    }
  });
  const http = new ComfyHttp(url, 5_000);
  cleanups.push(() => http.close());
  for (let i = 0; i < 3; i++) {
    await expect(http.getJson('queue', z.object({}))).rejects.toThrow(/GET queue answered 500 boom x/);
    await http.postCommand('interrupt', { prompt_id: 'p' });
  }
  expect(await http.getJson('system_stats', z.object({ ok: z.boolean() }))).toEqual({ ok: true });
  expect(calls).toBe(7);
  // undici hands the next call to a second connection while the first is being returned to the pool; an answer
  // left unread would hold its connection and make every later call open a new one.
  expect(connections).toBeLessThanOrEqual(2);
});

it('sends a JSON body with its length, not chunked', async () => {
  const seen: { headers: IncomingMessage['headers']; body: string }[] = [];
  const url = await serve((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200).end();
    });
  });
  const http = new ComfyHttp(url, 5_000);
  cleanups.push(() => http.close());
  await http.postCommand('queue', { delete: ['p'] });
  expect(seen).toHaveLength(1);
  expect(seen[0]?.body).toBe('{"delete":["p"]}');
  expect(seen[0]?.headers['content-type']).toBe('application/json');
  expect(seen[0]?.headers['content-length']).toBe(String(seen[0]?.body.length));
  expect(seen[0]?.headers['transfer-encoding']).toBeUndefined();
});
