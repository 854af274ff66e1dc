/**
 * A client that never finishes sending its request (an upload trickled a byte at a time, a body that stops
 * halfway) is answered 408 and disconnected once the request timeout passes: Fastify turns Node's own timeout
 * off unless it is given one, and such a connection would otherwise hold its socket and the body read so far
 * forever. A long answer (an event stream) is not bound by it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildApi, type Api } from '../../src/api/app.js';
import { REQUEST_TIMEOUT_MS } from '../../src/api/context.js';
import type { Store } from '../../src/store/contract.js';
import { openMigratedStore } from '../../src/store/open.js';
import { apiDeps, injectTenant } from '../support/api-app.js';
import { jobInput } from '../store/fixtures.js';

const ADMIN = 'request-timeout-admin-key-0123456789';
const TIMEOUT_MS = 400;

let dir: string;
let store: Store;
let api: Api;
let port: number;
let key: string;
let jobId: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'arrakis-request-timeout-'));
  store = await openMigratedStore(`sqlite:${join(dir, 'db')}`);
  api = await buildApi(apiDeps(dir, store, { adminKey: ADMIN }, { requestTimeoutMs: TIMEOUT_MS }));
  const url = new URL(await api.app.listen({ host: '127.0.0.1', port: 0 }));
  port = Number(url.port);
  const tenant = await injectTenant(api.app, { authorization: `Bearer ${ADMIN}` });
  key = tenant.key;
  const admitted = await store.admitJob(jobInput(tenant.accountId, 'u1'), Date.now());
  if (admitted.kind !== 'admitted') throw new Error(admitted.kind);
  jobId = admitted.job.id;
});

afterAll(async () => {
  await api.app.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Everything the server sends on `socket` until it closes the connection (or `limitMs` passes: null). */
function readUntilClosed(socket: Socket, limitMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    let text = '';
    const timer = setTimeout(() => resolve(null), limitMs);
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
  });
}

it('keeps Node’s own five-minute request timeout by default', () => {
  expect(REQUEST_TIMEOUT_MS).toBe(300_000);
});

it('answers 408 and closes a connection whose body stops arriving', async () => {
  const socket = connect(port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  const closed = readUntilClosed(socket, 10_000);
  socket.write(
    'POST /v1/jobs HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n' +
      `authorization: Bearer ${key}\r\nx-user-id: u1\r\ncontent-length: 100000\r\n\r\n{"workflow":`,
  );
  const answer = await closed;
  socket.destroy();
  expect(answer).not.toBeNull();
  expect(answer).toMatch(/^HTTP\/1\.1 408/);
});

it('does not cut an event stream that stays open past the timeout', async () => {
  const ac = new AbortController();
  const res = await fetch(`http://127.0.0.1:${port}/v1/jobs/${jobId}/events`, {
    headers: { authorization: `Bearer ${key}`, 'x-user-id': 'u1' },
    signal: ac.signal,
  });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  await reader.read(); // the head
  // Well past the timeout, the stream is still open: a read now waits (no end, no error).
  const next = await Promise.race([
    reader.read().then((r) => (r.done ? 'ended' : 'data')),
    new Promise((r) => setTimeout(() => r('open'), TIMEOUT_MS * 4)),
  ]);
  expect(next).toBe('open');
  ac.abort();
});
