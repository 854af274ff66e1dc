/**
 * A replica that drains ends its event streams (clients resume elsewhere with Last-Event-ID). A stream whose
 * request was still being answered when the drain ran (its first read in flight) must end too, once open: left
 * open, nothing ends it and shutdown waits out its grace for a client that never leaves. A `Prefer: wait` hold
 * is ended by the drain in the same way, and must not start once it has run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildApi, type Api } from '../../src/api/app.js';
import type { JobEvent, Store } from '../../src/store/contract.js';
import { openMigratedStore } from '../../src/store/open.js';
import { apiDeps, injectTenant } from '../support/api-app.js';
import { jobInput } from '../store/fixtures.js';

const ADMIN = { authorization: 'Bearer sse-drain-admin-key-0123456789abcdef' };

let dir: string;
let store: Store;
let api: Api;
let url: string;
/** While set, the next listJobEvents tells `entered` and waits for `release` before it answers. */
let gate: { entered: () => void; release: Promise<void> } | null = null;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'arrakis-sse-drain-'));
  store = await openMigratedStore(`sqlite:${join(dir, 'db')}`);
  const wrapped = new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'listJobEvents') {
        return async (jobId: string, afterSeq: number): Promise<JobEvent[]> => {
          const g = gate;
          gate = null;
          if (g !== null) {
            g.entered();
            await g.release;
          }
          return await target.listJobEvents(jobId, afterSeq);
        };
      }
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  api = await buildApi(apiDeps(dir, wrapped, { adminKey: ADMIN.authorization.slice('Bearer '.length) }));
  url = await api.app.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  api.app.server.closeAllConnections();
  await api.app.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

it('a stream opened while the replica drains sends what the log holds and ends', async () => {
  const { accountId, key } = await injectTenant(api.app, ADMIN);
  const admitted = await store.admitJob(jobInput(accountId, 'u1'), Date.now());
  if (admitted.kind !== 'admitted') throw new Error(admitted.kind);
  const id = admitted.job.id;
  expect((await store.claimNext('w1', 'default', 60_000, Date.now()))?.id).toBe(id);

  let release!: () => void;
  const entered = new Promise<void>((resolve) => {
    gate = { entered: resolve, release: new Promise<void>((r) => (release = r)) };
  });
  const ac = new AbortController();
  const answer = fetch(`${url}/v1/jobs/${id}/events`, {
    headers: { authorization: `Bearer ${key}`, 'x-user-id': 'u1' },
    signal: ac.signal,
  });
  await entered; // the stream's first read is in flight
  api.drain();
  release();
  const res = await answer;
  expect(res.status).toBe(200);
  // The head left after start() ran: a stream it left open would still be counted.
  expect(api.ctx.streams.size).toBe(0);
  expect(api.ctx.streamCounts.size).toBe(0);
  const text = await res.text(); // ends: the stream is closed, not idling
  ac.abort();
  expect(text).toContain('event: status');
});

it('a `Prefer: wait` hold that starts while the replica drains answers 202 at once', async () => {
  // A submission in flight when the drain ran starts its hold only after it: left waiting, nothing ends it (no
  // worker runs the job) and shutdown waits out its grace.
  api.drain();
  const { key } = await injectTenant(api.app, ADMIN);
  const res = await fetch(`${url}/v1/jobs`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${key}`,
      'x-user-id': 'u1',
      'content-type': 'application/json',
      prefer: 'wait=60',
    },
    body: JSON.stringify({ workflow: { '1': { class_type: 'Noop', inputs: {} } } }),
  });
  expect(res.status).toBe(202);
  expect(((await res.json()) as { status: string }).status).toBe('queued');
  expect(api.ctx.streams.size).toBe(0);
});
