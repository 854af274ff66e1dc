/**
 * Event streams and `Prefer: wait` holds that end badly. A user's open event streams are capped; a stream that
 * could not open (the store failed while it was being opened, or the client went away meanwhile) must not keep
 * its slot, or a database hiccup or a burst of page reloads would lock the user out of streams until restart. A
 * wait whose client left ends at once, and one whose store read fails still answers with the admitted job.
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { get, request, type ClientRequest } from 'node:http';
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
let url: string;
let events: string;
let headers: Record<string, string>;
/** While set, this store method fails, as during a database outage. */
let failing: 'listJobEvents' | 'getJobViewFor' | null = null;
/** While set, calls of the store method `verb` tell `entered` and then wait for `open`. */
let held: { verb: 'listJobEvents' | 'admitJob'; entered: () => void; open: Promise<void> } | null = null;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'arrakis-stream-slots-'));
  store = await openMigratedStore(`sqlite:${join(dir, 'db')}`);
  const flaky = new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === failing)
        return async () => {
          throw new Error('connection refused');
        };
      if (held !== null && prop === held.verb) {
        const { entered, open } = held;
        const verb = Reflect.get(target, prop, receiver) as (...args: unknown[]) => Promise<unknown>;
        return async (...args: unknown[]) => {
          entered();
          await open;
          return await verb.apply(target, args);
        };
      }
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  api = await buildApi(apiDeps(dir, flaky, { adminKey: ADMIN.authorization.slice('Bearer '.length) }));
  url = await api.app.listen({ host: '127.0.0.1', port: 0 });
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
  failing = 'listJobEvents';
  for (let i = 0; i < 25; i++) {
    const res = await fetch(events, { headers });
    expect(res.status).toBe(500);
    await res.text();
  }
  failing = null;
  // More failed opens than the cap (20) happened: the user can still open a stream.
  expect(await streamOpens()).toBe(200);
});

/**
 * Sends `request` on its own connection, holds the store's `verb` when the server calls it, leaves (closes the
 * connection) meanwhile, and lets the server go on once it has seen the close.
 */
async function leaveDuring(
  verb: 'listJobEvents' | 'admitJob',
  request: (agent: false) => ClientRequest,
): Promise<void> {
  let entered!: () => void;
  let open!: () => void;
  const inside = new Promise<void>((resolve) => (entered = resolve));
  held = { verb, entered, open: new Promise<void>((resolve) => (open = resolve)) };
  const accepted = once(api.app.server, 'connection') as Promise<[Socket]>;
  const sent = request(false).on('error', () => undefined);
  const [serverSide] = await accepted;
  await inside;
  sent.destroy();
  if (!serverSide.destroyed) await once(serverSide, 'close');
  held = null;
  open();
  // The handler's next steps run on the held call's resolution.
  await new Promise((resolve) => setImmediate(resolve));
}

it('a client that goes away while its stream is being opened gives its slot back', async () => {
  // It leaves while the server reads the event log, before the stream opens.
  for (let i = 0; i <= MAX_STREAMS_PER_USER; i++)
    await leaveDuring('listJobEvents', (agent) => get(events, { headers, agent }));
  expect(await streamOpens()).toBe(200);
});

/** Polls until `done()` holds or 10 s passed; says whether it held. */
async function within10s(done: () => boolean | Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + 10_000;
  while (!(await done())) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

it('a Prefer: wait whose client left during the submission stops waiting at once', async () => {
  // The streams the tests above opened have closed: from here on only the wait holds an entry.
  expect(await within10s(() => api.ctx.streams.size === 0)).toBe(true);
  const body = JSON.stringify({ workflow: { '1': { class_type: 'Noop', inputs: {} } } });
  await leaveDuring('admitJob', (agent) =>
    request(`${url}/v1/jobs`, {
      method: 'POST',
      agent,
      headers: { ...headers, 'content-type': 'application/json', prefer: 'wait=60' },
    }).end(body),
  );
  // Counted in the same step that starts the wait: from then on the wait is in ctx.streams until it ends.
  const submitted = async (): Promise<boolean> =>
    ((await api.ctx.metrics.jobsSubmitted.get()).values[0]?.value ?? 0) === 1;
  expect(await within10s(submitted)).toBe(true);
  // The job is admitted and nothing will run it: only the client's leaving can end the 60 s wait.
  expect(await within10s(() => api.ctx.streams.size === 0)).toBe(true);
});

it('a Prefer: wait whose re-read fails answers 202 with the admitted job, not 500', async () => {
  // A 500 would tell the client its submission failed: without an Idempotency-Key it would submit again.
  failing = 'getJobViewFor';
  try {
    const res = await fetch(`${url}/v1/jobs`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json', prefer: 'wait=5' },
      body: JSON.stringify({ workflow: { '1': { class_type: 'Noop', inputs: {} } } }),
    });
    expect(res.status).toBe(202);
    const job = (await res.json()) as { id: string; status: string };
    expect(job.status).toBe('queued');
    expect(res.headers.get('location')).toBe(`/v1/jobs/${job.id}`);
  } finally {
    failing = null;
  }
});

it('refuses an `after` beyond the largest event id with 400, as it would a malformed Last-Event-ID', async () => {
  const res = await fetch(`${events}?after=10000000000000`, { headers });
  expect(res.status).toBe(400);
  expect(((await res.json()) as { code: string }).code).toBe('validation_failed');
  expect(await streamOpens()).toBe(200);
});
