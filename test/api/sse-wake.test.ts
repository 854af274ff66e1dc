/**
 * An event stream must not miss a wake-up that arrives as a pump ends: a bus message delivered after the pump's
 * last read but before the pump is marked finished has to cause one more read, or the job's `done` waits for
 * the 10 s safety poll.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildApi, type Api } from '../../src/api/app.js';
import { createLocalBus } from '../../src/events/local-bus.js';
import type { JobEvent, Store } from '../../src/store/contract.js';
import { openMigratedStore } from '../../src/store/open.js';
import { apiDeps, injectTenant } from '../support/api-app.js';
import { jobInput } from '../store/fixtures.js';

const ADMIN = { authorization: 'Bearer sse-wake-admin-key-0123456789abcdef' };
const bus = createLocalBus();

let dir: string;
let store: Store;
let api: Api;
let url: string;
/** While set, the next listJobEvents answers as a read taken before seqs above `cut` committed, then runs `after`. */
let stale: { cut: number; after: () => void } | null = null;
let reads = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'arrakis-sse-wake-'));
  store = await openMigratedStore(`sqlite:${join(dir, 'db')}`);
  const wrapped = new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'listJobEvents') {
        // Not async: `after` must run as the read's answer arrives, before the pump's own continuation.
        return (jobId: string, afterSeq: number): Promise<JobEvent[]> => {
          reads++;
          const p = target.listJobEvents(jobId, afterSeq);
          if (stale === null) return p;
          const { cut, after } = stale;
          stale = null;
          const answer = p.then((rows) => rows.filter((e) => e.seq <= cut));
          void answer.then(after);
          return answer;
        };
      }
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  api = await buildApi(
    apiDeps(dir, wrapped, { adminKey: ADMIN.authorization.slice('Bearer '.length) }, { bus }),
  );
  url = await api.app.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await api.app.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

it('a job_event heard while a pump is ending is pumped (the end is not left to the safety poll)', async () => {
  const { accountId, key } = await injectTenant(api.app, ADMIN);
  const admitted = await store.admitJob(jobInput(accountId, 'u1'), Date.now());
  if (admitted.kind !== 'admitted') throw new Error(admitted.kind);
  const id = admitted.job.id;
  expect((await store.claimNext('w1', 'default', 60_000, Date.now()))?.id).toBe(id);

  const ac = new AbortController();
  const res = await fetch(`${url}/v1/jobs/${id}/events`, {
    headers: { authorization: `Bearer ${key}`, 'x-user-id': 'u1' },
    signal: ac.signal,
  });
  expect(res.status).toBe(200);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = '';
  const until = async (needle: string): Promise<void> => {
    while (!text.includes(needle)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`stream ended without ${needle}: ${text}`);
      text += value;
    }
  };
  await until('event: status'); // seq 1: running

  // The job ends; the next pump's read was taken just before that commit, and the end's message arrives as
  // that read answers (the pump is still in progress when it is heard).
  expect((await store.completeJob(id, 'w1', [], Date.now())).kind).toBe('finished');
  stale = { cut: 1, after: () => void bus.publish({ kind: 'job_event', jobId: id, ended: true }) };
  const before = reads;
  await bus.publish({ kind: 'job_event', jobId: id, ended: false });

  // Without the safety poll (10 s), only a pump for the second message can write `done`.
  const ended = await Promise.race([
    until('event: done').then(() => true),
    new Promise<boolean>((r) => setTimeout(() => r(false), 3_000)),
  ]);
  ac.abort();
  expect(reads - before).toBeGreaterThanOrEqual(2);
  expect(ended).toBe(true);
});
