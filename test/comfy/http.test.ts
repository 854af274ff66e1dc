/**
 * ComfyHttp's own promises, against a plain HTTP server on 127.0.0.1: an API call's timeout covers the body, a
 * download is not cut off while its bytes keep coming (only when they stall, its signal aborts, or the transfer
 * cap), a body that fails mid-read is a ComfyUnavailableError like any other failure, and answers (short error
 * answers included) are read to the end so the keep-alive connection is reused, while an error body is never read
 * past ERROR_BODY_CAP. No call leaves a timer, or a listener on the job's signal, behind once it ends.
 */
import { createHook } from 'node:async_hooks';
import { getEventListeners, once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { z } from 'zod';
import { ComfyUnavailableError, OutputTooLargeError } from '../../src/comfy/contract.js';
import { createComfyServer } from '../../src/comfy/http-client.js';
import { ComfyHttp, ERROR_BODY_CAP, TRANSFER_CAP_MS, uploadLimitMs } from '../../src/comfy/http.js';

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

/**
 * Writes 16 KiB a millisecond to each response it is given until the client goes away; counts the bytes sent
 * and the responses closed.
 */
function streamForever(): {
  stream: (res: ServerResponse) => void;
  readonly sent: number;
  readonly closed: number;
} {
  const counts = { sent: 0, closed: 0 };
  return {
    stream(res) {
      const timer = setInterval(() => {
        res.write(Buffer.alloc(16 * 1024, 'x'));
        counts.sent += 16 * 1024;
      }, 1);
      res.on('close', () => {
        counts.closed++;
        clearInterval(timer);
      });
    },
    get sent() {
      return counts.sent;
    },
    get closed() {
      return counts.closed;
    },
  };
}

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
  server?.closeAllConnections();
  server?.close();
  server = null;
});

const file = { nodeId: '9', filename: 'a.png', subfolder: '', type: 'output' } as const;

/** The undici code of a ComfyUnavailableError's cause (its stable name for what failed). */
function causeCode(error: unknown): unknown {
  const cause = error instanceof Error ? error.cause : undefined;
  return cause instanceof Error && 'code' in cause ? cause.code : undefined;
}

/** Answers 200 and sends `chunks` chunks of 100 bytes, one every `everyMs` (a big output on a slow link). */
function trickle(chunks: number, everyMs: number): Handler {
  return (_req, res) => {
    res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': String(chunks * 100) });
    let sent = 0;
    const timer = setInterval(() => {
      res.write(Buffer.alloc(100, sent));
      if (++sent === chunks) {
        clearInterval(timer);
        res.end();
      }
    }, everyMs);
    res.on('close', () => clearInterval(timer));
  };
}

it('turns a download whose body stalls past the timeout into ComfyUnavailableError', async () => {
  const url = await serve((_req, res) => {
    res.writeHead(200, { 'content-type': 'image/png', 'content-length': '1000' });
    res.write(Buffer.alloc(10)); // …and the other 990 bytes never come.
  });
  const client = createComfyServer(url, { requestTimeoutMs: 200 });
  cleanups.push(() => client.close());
  const error: unknown = await client.download(file).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ComfyUnavailableError);
  expect(String(error)).toMatch(/GET \/view \/a\.png failed: no bytes for 200 ms \(body timeout\)/);
  expect(causeCode(error)).toBe('UND_ERR_BODY_TIMEOUT');
});

it('does not cut off a download whose bytes keep coming for longer than the timeout', async () => {
  // 16 chunks, one every 100 ms: 1.5 s in all, three times the 500 ms timeout, never idle for that long.
  const url = await serve(trickle(16, 100));
  const client = createComfyServer(url, { requestTimeoutMs: 500 });
  cleanups.push(() => client.close());
  const bytes = await client.download(file);
  expect(bytes.length).toBe(1600);
  expect(bytes[1599]).toBe(15);
});

it('fails a download that gets no headers within the timeout', async () => {
  const url = await serve(() => {}); // reads the request, never answers
  const client = createComfyServer(url, { requestTimeoutMs: 200 });
  cleanups.push(() => client.close());
  const error: unknown = await client.download(file).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ComfyUnavailableError);
  expect(String(error)).toMatch(/GET \/view failed: no answer within 200 ms \(headers timeout\)/);
  expect(causeCode(error)).toBe('UND_ERR_HEADERS_TIMEOUT');
});

it('ends a download still arriving when its signal aborts or the transfer cap is reached', async () => {
  const url = await serve(trickle(1000, 20));
  const capped = createComfyServer(url, { requestTimeoutMs: 5_000, transferCapMs: 300 });
  cleanups.push(() => capped.close());
  const capError: unknown = await capped.download(file).catch((e: unknown) => e);
  expect(capError).toBeInstanceOf(ComfyUnavailableError);
  expect(String(capError)).toMatch(/GET \/view \/a\.png failed: .*timeout/);

  const client = createComfyServer(url, { requestTimeoutMs: 5_000 });
  cleanups.push(() => client.close());
  const stop = new AbortController();
  setTimeout(() => stop.abort(new Error('the job stopped')), 300);
  const error: unknown = await client.download(file, stop.signal).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ComfyUnavailableError);
  expect(String(error)).toMatch(/GET \/view \/a\.png failed: the job stopped/);
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

it('reads short error answers and command answers to the end, so every call reuses one connection', async () => {
  let calls = 0;
  const url = await serve((req, res) => {
    calls++;
    req.resume();
    if (req.url === '/queue') {
      res.writeHead(500, { 'content-type': 'text/plain' });
      // Within ERROR_BODY_CAP (a longer one is cut off and its connection closed: see the next test).
      res.end(`boom ${'x'.repeat(ERROR_BODY_CAP - 100)}`);
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

it('reads no more than ERROR_BODY_CAP of an endless error answer, keeping the usual message', async () => {
  // A broken server that never ends its error page.
  const endless = streamForever();
  const url = await serve((req, res) => {
    req.resume();
    res.writeHead(500, { 'content-type': 'text/plain' });
    res.write('boom ');
    endless.stream(res);
  });
  const expected = `answered 500 ${`boom ${'x'.repeat(200)}`.slice(0, 200)}`;
  // An API call (its whole-call bound would otherwise end the read) and a download (its transfer cap would).
  const http = new ComfyHttp(url, 2_000);
  cleanups.push(() => http.close());
  const error: unknown = await http.getJson('queue', z.object({})).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ComfyUnavailableError);
  expect((error as Error).message).toBe(`GET queue ${expected}`);
  const client = createComfyServer(url, { requestTimeoutMs: 2_000, transferCapMs: 2_000 });
  cleanups.push(() => client.close());
  const viewError: unknown = await client.download(file).catch((e: unknown) => e);
  expect(viewError).toBeInstanceOf(ComfyUnavailableError);
  expect((viewError as Error).message).toBe(`GET /view /a.png ${expected}`);
  // The client closed the connection instead of reading on: the server got to send only a little.
  await expect.poll(() => endless.closed).toBe(2);
  expect(endless.sent).toBeLessThan(4 * 1024 * 1024);
});

it('reads a download no further than its byte limit: an endless 200 fails OutputTooLargeError, one at the limit passes', async () => {
  // A broken or hostile server streaming a file without end.
  const endless = streamForever();
  const url = await serve((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'image/png' });
    if (req.url?.includes('exact') === true) {
      res.end(Buffer.alloc(64 * 1024, 1));
      return;
    }
    endless.stream(res);
  });
  const client = createComfyServer(url, { requestTimeoutMs: 2_000, transferCapMs: 60_000 });
  cleanups.push(() => client.close());
  const error: unknown = await client.download(file, undefined, 256 * 1024).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(OutputTooLargeError);
  expect((error as Error).message).toBe(
    'GET /view /a.png is larger than the 262144 bytes an output may have',
  );
  await expect.poll(() => endless.closed).toBe(1);
  expect(endless.sent).toBeLessThan(4 * 1024 * 1024);
  const exact = await client.download({ ...file, filename: 'exact.png' }, undefined, 64 * 1024);
  expect(exact.length).toBe(64 * 1024);
});

it('ends an upload the server stalls on when its signal aborts', async () => {
  let stalled: IncomingMessage | null = null;
  let received = 0;
  let closed = false;
  const url = await serve((req, res) => {
    // Reads none of the upload and never answers (a hung server, or a link that stopped moving)...
    req.pause();
    req.on('data', (chunk: Buffer) => (received += chunk.length));
    res.on('close', () => (closed = true));
    stalled = req;
  });
  const client = createComfyServer(url, { requestTimeoutMs: 20_000 });
  cleanups.push(() => client.close());
  const stop = new AbortController();
  const bytes = Buffer.alloc(8 * 1024 * 1024, 1);
  const uploading = client.uploadInput(bytes, 'big.png', 'arrakis/job', stop.signal);
  await expect.poll(() => stalled).not.toBeNull();
  stop.abort(new Error('the job stopped'));
  const error: unknown = await uploading.catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ComfyUnavailableError);
  expect(String(error)).toMatch(/POST \/upload\/image failed: the job stopped/);
  // ...until the client is gone: reading on finds the upload cut short and the connection closed.
  (stalled as IncomingMessage | null)?.resume();
  await expect.poll(() => closed).toBe(true);
  expect(received).toBeLessThan(bytes.length);
});

it('bounds an upload by the timeout plus 1 s per MiB, at most the transfer cap', () => {
  expect(uploadLimitMs(0, 30_000, TRANSFER_CAP_MS)).toBe(30_000);
  expect(uploadLimitMs(1, 30_000, TRANSFER_CAP_MS)).toBe(31_000);
  expect(uploadLimitMs(500 * 1024 * 1024, 30_000, TRANSFER_CAP_MS)).toBe(530_000);
  expect(uploadLimitMs(10 * 1024 * 1024 * 1024, 30_000, TRANSFER_CAP_MS)).toBe(TRANSFER_CAP_MS);
});

it("clears each call's time bound when the call ends: many downloads leave no timer pending", async () => {
  // Distinctive lengths, to tell the calls' own timers from any other (undici's, the server's).
  const capMs = 3_456_789;
  const timeoutMs = 23_456;
  const url = await serve((req, res) => {
    req.resume();
    if (req.url?.includes('missing') === true) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{}');
  });
  const client = createComfyServer(url, { requestTimeoutMs: timeoutMs, transferCapMs: capMs });
  const http = new ComfyHttp(url, timeoutMs, capMs);
  cleanups.push(
    () => client.close(),
    () => http.close(),
  );
  let created = 0;
  const pending = new Set<number>();
  const hook = createHook({
    init(id, type, _trigger, resource) {
      const ms = type === 'Timeout' ? (resource as { _idleTimeout?: unknown })._idleTimeout : undefined;
      if (ms !== capMs && ms !== timeoutMs) return;
      created++;
      pending.add(id);
    },
    destroy(id) {
      pending.delete(id);
    },
  }).enable();
  try {
    const job = new AbortController();
    for (let i = 0; i < 10; i++) {
      expect((await client.download(file, job.signal)).toString()).toBe('{}');
    }
    await expect(client.download({ ...file, filename: 'missing.png' })).rejects.toThrow(/answered 404/);
    await http.getJson('queue', z.object({}));
    await http.postCommand('interrupt', {});
    expect(created).toBe(13);
    await expect.poll(() => pending.size).toBe(0);
  } finally {
    hook.disable();
  }
});

it("removes each call's listener from the job's signal when the call ends, also when it fails before an answer", async () => {
  const url = await serve((req, res) => {
    req.resume();
    // A server that drops the connection before any answer: the call throws before it has a body.
    if (req.url?.includes('dropped') === true) return void req.socket.destroy();
    if (req.url?.includes('missing') === true) return void res.writeHead(404).end('no such file');
    if (req.url?.includes('upload') === true) {
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end('{"name":"in.png","subfolder":"arrakis/job"}');
    }
    res.writeHead(200, { 'content-type': 'image/png' });
    res.end('png');
  });
  const client = createComfyServer(url, { requestTimeoutMs: 5_000 });
  cleanups.push(() => client.close());
  // One job's signal, shared by all its transfers (a job may have many outputs and inputs).
  const job = new AbortController();
  const listeners = (): number => getEventListeners(job.signal, 'abort').length;
  for (let i = 0; i < 5; i++) {
    expect(await client.uploadInput(Buffer.from('in'), 'in.png', 'arrakis/job', job.signal)).toBe(
      'arrakis/job/in.png',
    );
    expect((await client.download(file, job.signal)).toString()).toBe('png');
    await expect(client.download({ ...file, filename: 'missing.png' }, job.signal)).rejects.toThrow(
      /answered 404/,
    );
    await expect(client.download({ ...file, filename: 'dropped.png' }, job.signal)).rejects.toBeInstanceOf(
      ComfyUnavailableError,
    );
  }
  await expect.poll(listeners).toBe(0);
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

it('does not follow redirects: a 3xx is an unexpected status, and its Location is never asked for', async () => {
  const paths: string[] = [];
  const url = await serve((req, res) => {
    paths.push(req.url ?? '');
    req.resume();
    if (req.url?.startsWith('/elsewhere') === true) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
      return;
    }
    res.writeHead(302, { location: `/elsewhere${req.url ?? ''}`, 'content-type': 'text/plain' });
    res.end('moved');
  });
  const client = createComfyServer(url, { requestTimeoutMs: 5_000 });
  cleanups.push(() => client.close());
  const error: unknown = await client.download(file).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ComfyUnavailableError);
  expect(String(error)).toMatch(/GET \/view \/a\.png answered 302 moved/);
  const http = new ComfyHttp(url, 5_000);
  cleanups.push(() => http.close());
  await expect(http.getJson('queue', z.object({}))).rejects.toThrow(/GET queue answered 302 moved/);
  expect(paths).toEqual(['/view?filename=a.png&subfolder=&type=output', '/queue']);
});
