/**
 * A user's open event streams are capped; a stream that could not open (the store failed while it was being
 * opened) must not keep its slot, or a database hiccup would lock the user out of streams until restart.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildApi, type Api } from '../../src/api/app.js';
import { loadConfig } from '../../src/config/load.js';
import { createLocalBus } from '../../src/events/local-bus.js';
import { NodeTypeRegistry } from '../../src/jobs/node-type-registry.js';
import { openStorage } from '../../src/media/storage/open-storage.js';
import type { Store } from '../../src/store/contract.js';
import { openMigratedStore } from '../../src/store/open.js';
import { jobInput } from '../store/fixtures.js';

const ADMIN = { authorization: 'Bearer stream-slots-admin-key-0123456789' };

let dir: string;
let store: Store;
let api: Api;
let url: string;
/** While true, reading a job's event log fails, as during a database outage. */
let failing = false;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'arrakis-stream-slots-'));
  store = await openMigratedStore(`sqlite:${join(dir, 'db')}`);
  const flaky = new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'listJobEvents' && failing)
        return async () => {
          throw new Error('connection refused');
        };
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const config = loadConfig(
    {},
    {},
    {
      db: `sqlite:${join(dir, 'db')}`,
      storage: `file:${dir}`,
      port: 0,
      logLevel: 'silent',
      adminKey: ADMIN.authorization.slice('Bearer '.length),
    },
  );
  const unused = (): never => {
    throw new Error('not used by this test');
  };
  api = await buildApi({
    config,
    store: flaky,
    storage: openStorage(config.storage),
    bus: createLocalBus(),
    nodeTypes: new NodeTypeRegistry(),
    storeBase64Input: unused,
    storeUploadedInput: unused,
    checkUrl: unused,
    now: () => Date.now(),
    defaultPool: 'default',
  });
  url = await api.app.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await api.app.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

it('a stream refused by a store error gives its slot back', async () => {
  const account = await api.app.inject({
    method: 'POST',
    url: '/v1/admin/accounts',
    headers: ADMIN,
    payload: { name: 'a' },
  });
  const accountId = (account.json() as { id: string }).id;
  const created = await api.app.inject({
    method: 'POST',
    url: `/v1/admin/accounts/${accountId}/keys`,
    headers: ADMIN,
    payload: { name: 'k' },
  });
  const key = (created.json() as { key: string }).key;
  const admitted = await store.admitJob(jobInput(accountId, 'u1'), Date.now());
  if (admitted.kind !== 'admitted') throw new Error(admitted.kind);
  const events = `${url}/v1/jobs/${admitted.job.id}/events`;
  const headers = { authorization: `Bearer ${key}`, 'x-user-id': 'u1' };

  failing = true;
  for (let i = 0; i < 25; i++) {
    const res = await fetch(events, { headers });
    expect(res.status).toBe(500);
    await res.text();
  }
  failing = false;
  // More failed opens than the cap (20) happened: the user can still open a stream.
  const ac = new AbortController();
  const res = await fetch(events, { headers, signal: ac.signal });
  expect(res.status).toBe(200);
  ac.abort();
});
