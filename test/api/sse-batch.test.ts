/**
 * An event stream writes a job's non-final events (`running`, progress) in batches of up to EVENT_BATCH_MS:
 * a job that ends within the batch window reaches its client in one write, `done` included (each write is a
 * system call and a wake-up of the client), and a lone non-final event still goes out without waiting for the
 * safety poll. Chunks are counted on the wire: one write of a chunked response is one chunk.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { get, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildApi, type Api } from '../../src/api/app.js';
import { createLocalBus } from '../../src/events/local-bus.js';
import type { Store } from '../../src/store/contract.js';
import { openMigratedStore } from '../../src/store/open.js';
import { apiDeps, injectTenant } from '../support/api-app.js';
import { jobInput } from '../store/fixtures.js';

const ADMIN = { authorization: 'Bearer sse-batch-admin-key-0123456789abcdef' };
const bus = createLocalBus();
const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let dir: string;
let store: Store;
let api: Api;
let url: string;
const open: IncomingMessage[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'arrakis-sse-batch-'));
  store = await openMigratedStore(`sqlite:${join(dir, 'db')}`);
  api = await buildApi(
    apiDeps(dir, store, { adminKey: ADMIN.authorization.slice('Bearer '.length) }, { bus }),
  );
  url = await api.app.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  for (const res of open) res.destroy();
  await api.app.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A queued job and an open event stream on it; `chunks` fills with the body's chunks as they arrive. */
async function openStream(): Promise<{
  id: string;
  chunks: string[];
  res: IncomingMessage;
  ended: Promise<void>;
}> {
  const { accountId, key } = await injectTenant(api.app, ADMIN);
  const admitted = await store.admitJob(jobInput(accountId, 'u1'), Date.now());
  if (admitted.kind !== 'admitted') throw new Error(admitted.kind);
  const id = admitted.job.id;
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    get(
      `${url}/v1/jobs/${id}/events`,
      { headers: { authorization: `Bearer ${key}`, 'x-user-id': 'u1' } },
      resolve,
    ).on('error', reject);
  });
  open.push(res);
  expect(res.statusCode).toBe(200);
  const chunks: string[] = [];
  res.setEncoding('utf8');
  res.on('data', (c: string) => chunks.push(c));
  const ended = new Promise<void>((r) => res.on('end', () => r()));
  while (chunks.length === 0) await pause(5); // the head, with the queued snapshot
  return { id, chunks, res, ended };
}

it('a job that ends within the window reaches the client in one write after the head, done included', async () => {
  const { id, chunks, ended } = await openStream();
  expect(chunks).toHaveLength(1);
  expect((await store.claimNext('w1', 'default', 60_000, Date.now()))?.id).toBe(id);
  await bus.publish({ kind: 'job_event', jobId: id, ended: false });
  await pause(2);
  expect(await store.updateProgress(id, 'w1', { value: 1, max: 2, node: '1' }, Date.now())).toBe(true);
  await bus.publish({ kind: 'job_event', jobId: id, ended: false });
  await pause(2);
  expect((await store.completeJob(id, 'w1', [], Date.now())).kind).toBe('finished');
  await bus.publish({ kind: 'job_event', jobId: id, ended: true });
  await ended;

  expect(chunks).toHaveLength(2);
  const types = [...chunks[1]!.matchAll(/^event: (\w+)$/gm)].map((m) => m[1]);
  expect(types).toEqual(['status', 'progress', 'done']);
});

it('a lone non-final event is written after the window, without waiting for the safety poll', async () => {
  const { id, chunks, res } = await openStream();
  expect((await store.claimNext('w1', 'default', 60_000, Date.now()))?.id).toBe(id);
  await bus.publish({ kind: 'job_event', jobId: id, ended: false });
  const deadline = Date.now() + 3_000;
  while (chunks.length < 2 && Date.now() < deadline) await pause(5);
  res.destroy();
  expect(chunks.join('')).toContain('"status":"running"');
  expect(chunks.join('')).not.toContain('event: done');
});
