/**
 * A user's open event streams are capped; a stream that could not open (the store failed while it was being
 * opened, or the client went away meanwhile) must not keep its slot, or a database hiccup or a burst of page
 * reloads would lock the user out of streams until restart.
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildApi, type Api } from '../../src/api/app.js';
import { MAX_STREAMS_PER_USER } from '../../src/api/routes/events.js';
import type { Store } from '../../src/store/contract.js';
import { openMigratedStore } from '../../src/store/open.js';
import { apiDeps, injectTenant } from '../support/api-app.js';
import { jobInput } from '../store/fixtures.js';

const ADMIN = { authorization: 'Bearer stream-slots-admin-key-0123456789' };

let dir: string;
let store: Store;
let api: Api;
let events: string;
let headers: Record<string, string>;
/** While true, reading a job's event log fails, as during a database outage. */
let failing = false;
/** While set, reading a job's event log tells `entered` and then waits for `open`. */
let held: { entered: () => void; open: Promise<void> } | null = null;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'arrakis-stream-slots-'));
  store = await openMigratedStore(`sqlite:${join(dir, 'db')}`);
  const flaky = new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'listJobEvents' && failing)
        return async () => {
          throw new Error('connection refused');
        };
      if (prop === 'listJobEvents' && held !== null) {
        const { entered, open } = held;
        return async (...args: Parameters<Store['listJobEvents']>) => {
          entered();
          await open;
          return await target.listJobEvents(...args);
        };
      }
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  api = await buildApi(apiDeps(dir, flaky, { adminKey: ADMIN.authorization.slice('Bearer '.length) }));
  const url = await api.app.listen({ host: '127.0.0.1', port: 0 });
  const { accountId, key } = await injectTenant(api.app, ADMIN);
  const admitted = await store.admitJob(jobInput(accountId, 'u1'), Date.now());
  if (admitted.kind !== 'admitted') throw new Error(admitted.kind);
  events = `${url}/v1/jobs/${admitted.job.id}/events`;
  headers = { authorization: `Bearer ${key}`, 'x-user-id': 'u1' };
});

afterAll(async () => {
  await api.app.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Whether a stream opens for the user now (closed again at once). */
async function streamOpens(): Promise<number> {
  const ac = new AbortController();
  const res = await fetch(events, { headers, signal: ac.signal });
  ac.abort();
  return res.status;
}

it('a stream refused by a store error gives its slot back', async () => {
  failing = true;
  for (let i = 0; i < 25; i++) {
    const res = await fetch(events, { headers });
    expect(res.status).toBe(500);
    await res.text();
  }
  failing = false;
  // More failed opens than the cap (20) happened: the user can still open a stream.
  expect(await streamOpens()).toBe(200);
});

it('a client that goes away while its stream is being opened gives its slot back', async () => {
  for (let i = 0; i <= MAX_STREAMS_PER_USER; i++) {
    let entered!: () => void;
    let open!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    held = { entered, open: new Promise<void>((resolve) => (open = resolve)) };
    // Its own connection, so the server's end of it can be watched.
    const accepted = once(api.app.server, 'connection') as Promise<[Socket]>;
    const request = get(events, { headers, agent: false }).on('error', () => undefined);
    const [serverSide] = await accepted;
    // The server is reading the event log, before the stream opens; the client leaves.
    await inside;
    request.destroy();
    if (!serverSide.destroyed) await once(serverSide, 'close');
    held = null;
    open();
    // The handler's remaining steps (take the slot, open the stream) run on the read's resolution.
    await new Promise((resolve) => setImmediate(resolve));
  }
  expect(await streamOpens()).toBe(200);
});
