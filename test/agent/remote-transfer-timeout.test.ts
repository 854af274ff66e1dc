/**
 * RemoteJobChannel's time limits against a real HTTP server on 127.0.0.1: an output upload the server reads
 * slowly, and an input the server sends slowly, are not cut off by the short limit of a control call; a control
 * call keeps that limit; a transfer still has its own (by default the server's request timeout plus the answer).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { afterEach, expect, it } from 'vitest';
import { REQUEST_TIMEOUT_MS } from '../../src/api/context.js';
import { RemoteJobChannel } from '../../src/agent/remote-job-channel.js';
import { UPLOAD_ARRIVAL_MS } from '../../src/workers/worker-protocol.js';
import { rawPeers, type RawHandler } from '../support/raw-http.js';

const peers = rawPeers();
const serve = (handler: RawHandler): Promise<string> => peers.listen(handler);

/** undici's own clock for its headers/body timers (a tick of it stands for minutes passing; testing hook). */
const undiciTimers = createRequire(import.meta.url)('undici/lib/util/timers.js') as {
  tick(delayMs: number): void;
};

afterEach(() => peers.cleanup());

function channel(serverUrl: string, extra: { transferTimeoutMs?: number } = {}): RemoteJobChannel {
  return peers.track(new RemoteJobChannel({ serverUrl, token: 'wkt_test', requestTimeoutMs: 300, ...extra }));
}

/** Reads a request body one chunk at a time with a pause after each (a slow link, or a busy server). */
function readSlowly(req: IncomingMessage, pauseMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      req.pause();
      setTimeout(() => req.resume(), pauseMs);
    });
    req.on('end', () => resolve(size));
    req.on('error', reject);
  });
}

const output = {
  seq: 0,
  nodeId: '9',
  filename: 'clip.mp4',
  contentType: 'video/mp4',
  bytes: Buffer.alloc(2 * 1024 * 1024, 7),
  type: 'output' as const,
};

function storedAnswer(res: ServerResponse, size: number): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(
    JSON.stringify({
      node_id: '9',
      filename: 'clip.mp4',
      content_type: 'video/mp4',
      size,
      object_key: 'jobs/j/outputs/0-clip.mp4',
      type: 'output',
    }),
  );
}

it('does not cut off an output upload the server reads for longer than a control call may take', async () => {
  let received = 0;
  const url = await serve((req, res) => {
    // 2 MiB in chunks of at most 64 KiB, 25 ms after each: about a second, several times the 300 ms limit.
    void readSlowly(req, 25).then((size) => {
      received = size;
      storedAnswer(res, size);
    });
  });
  const stored = await channel(url).storeOutput('j', output);
  expect(received).toBe(output.bytes.length);
  expect(stored.size).toBe(output.bytes.length);
  expect(stored.objectKey).toBe('jobs/j/outputs/0-clip.mp4');
});

it('does not cut off an input download that keeps arriving for longer than a control call may take', async () => {
  const url = await serve((_req, res) => {
    res.writeHead(200, { 'content-type': 'image/png', 'content-length': '1600' });
    let sent = 0;
    const timer = setInterval(() => {
      res.write(Buffer.alloc(100, sent));
      if (++sent === 16) {
        clearInterval(timer);
        res.end();
      }
    }, 60);
    res.on('close', () => clearInterval(timer));
  });
  const input = {
    name: 'photo',
    filename: 'photo.png',
    contentType: 'image/png',
    size: 1600,
    objectKey: 'k',
  };
  const bytes = await channel(url).getInput('j', input);
  expect(bytes.length).toBe(1600);
});

it("ends an input download still arriving when the job's stop signal fires", async () => {
  let closed = false;
  const url = await serve((_req, res) => {
    res.writeHead(200, { 'content-type': 'image/png', 'content-length': '1000000' });
    // A trickle that would take minutes: only the job's stop can end it before the transfer limit.
    const timer = setInterval(() => res.write(Buffer.alloc(10, 1)), 50);
    res.on('close', () => {
      closed = true;
      clearInterval(timer);
    });
  });
  const input = {
    name: 'photo',
    filename: 'photo.png',
    contentType: 'image/png',
    size: 1_000_000,
    objectKey: 'k',
  };
  const stop = new AbortController();
  setTimeout(() => stop.abort(new Error('the job was cancelled')), 200);
  const began = Date.now();
  await expect(
    channel(url, { transferTimeoutMs: 60_000 }).getInput('j', input, stop.signal),
  ).rejects.toThrow();
  expect(Date.now() - began).toBeLessThan(5_000);
  await expect.poll(() => closed, { timeout: 5_000 }).toBe(true);
});

it('keeps the short limit for a control call, and a limit for an upload the server never reads', async () => {
  const url = await serve(() => {}); // never reads, never answers
  const heartbeat: unknown = await channel(url)
    .heartbeat('j')
    .catch((e: unknown) => e);
  expect(heartbeat).toBeInstanceOf(Error);
  expect((heartbeat as Error).name).toBe('TimeoutError');
  const upload: unknown = await channel(url, { transferTimeoutMs: 500 })
    .storeOutput('j', output)
    .catch((e: unknown) => e);
  expect(upload).toBeInstanceOf(Error);
  expect((upload as Error).name).toBe('TimeoutError');
});

it("gives an upload at least the server's own time for a request to arrive", () => {
  expect(UPLOAD_ARRIVAL_MS).toBe(REQUEST_TIMEOUT_MS);
});

it("lets a transfer's answer come later than undici's own 300 s headers timer: the transfer limit applies", async () => {
  let answer: (() => void) | undefined;
  const url = await serve((req, res) => {
    req.resume();
    // The whole body arrived; the server stores it (a big file to slow storage) before it answers.
    req.on('end', () => (answer = () => storedAnswer(res, output.bytes.length)));
  });
  const upload = channel(url, { transferTimeoutMs: 600_000 })
    .storeOutput('j', output)
    .catch((e: unknown) => e);
  await expect.poll(() => answer !== undefined).toBe(true);
  // Past undici's default headers timeout (300 s), still within this transfer's limit (600 s).
  undiciTimers.tick(1_000); // starts the timers set since undici's last tick
  undiciTimers.tick(301_000);
  await new Promise((resolve) => setTimeout(resolve, 100));
  answer?.();
  const stored = await upload;
  expect(stored).not.toBeInstanceOf(Error);
  expect(stored).toMatchObject({ size: output.bytes.length });
});

it('reads only the head of an endless error answer, and closes its connection', async () => {
  let written = 0;
  let closed = false;
  const url = await serve((_req, res) => {
    res.writeHead(500, { 'content-type': 'text/html' });
    res.on('close', () => (closed = true));
    // A broken proxy's endless error page: written as fast as it is taken, up to 64 MiB, then left open.
    const more = (): void => {
      while (!closed && written < 64 * 1024 * 1024) {
        written += 64 * 1024;
        if (!res.write(Buffer.alloc(64 * 1024, 60))) return void res.once('drain', more);
      }
    };
    more();
  });
  const c = peers.track(new RemoteJobChannel({ serverUrl: url, token: 'wkt_test', requestTimeoutMs: 5_000 }));
  const err: unknown = await c.heartbeat('j').catch((e: unknown) => e);
  expect(err).toMatchObject({ name: 'WorkerApiError', status: 500 });
  // Not buffered to the call's limit: what the server got out is the head and the socket buffers, not 64 MiB.
  expect(written).toBeLessThan(16 * 1024 * 1024);
  await expect.poll(() => closed, { timeout: 5_000 }).toBe(true);
});
