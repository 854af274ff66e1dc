/**
 * What wakes a `Prefer: wait` hold: a job's end (`ended: true`), and a `job_event` that cannot say (from a
 * replica that predates `ended`, mid rolling upgrade) — never progress alone, which would only cost a read.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it, onTestFinished } from 'vitest';
import type { ApiContext } from '../../src/api/context.js';
import { JobEventPoll } from '../../src/api/event-poll.js';
import { waitForJobEnd } from '../../src/api/prefer-wait.js';
import type { BusMessage } from '../../src/events/bus.js';
import { createLocalBus } from '../../src/events/local-bus.js';
import type { Store } from '../../src/store/contract.js';
import { openMigratedStore } from '../../src/store/open.js';
import { SILENT_OUTAGE_LOG } from '../../src/util/backoff.js';
import { jobInput, makeAccount } from '../store/fixtures.js';

let dir: string;
let store: Store;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'arrakis-wait-wake-'));
  store = await openMigratedStore(`sqlite:${join(dir, 'db')}`);
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

it.each<[string, (jobId: string) => BusMessage]>([
  ['its end', (jobId) => ({ kind: 'job_event', jobId, ended: true })],
  ['a job_event from a replica that predates `ended`', (jobId) => ({ kind: 'job_event', jobId })],
])('a wait wakes for %s (not at its safety re-read)', async (_, message) => {
  const bus = createLocalBus();
  const account = await makeAccount(store);
  const admitted = await store.admitJob(jobInput(account.id, 'u1'), Date.now());
  if (admitted.kind !== 'admitted') throw new Error(admitted.kind);
  const id = admitted.job.id;
  await store.claimNext('w1', 'default', 60_000, Date.now());
  const view = await store.getJobViewFor(account.id, 'u1', id);
  // Only the members the wait uses; the safety poll a minute away.
  const eventPoll = new JobEventPoll(store, 60_000, SILENT_OUTAGE_LOG);
  onTestFinished(() => eventPoll.stop());
  const ctx = { bus, store, eventPoll } as unknown as ApiContext;
  let ended = false;
  const waiting = waitForJobEnd(
    ctx,
    { accountId: account.id, userId: 'u1' },
    view!,
    30,
    new AbortController().signal,
  );
  void waiting.then(() => (ended = true));
  await new Promise((r) => setTimeout(r, 100)); // the wait has read the job (running) and sleeps
  expect((await store.completeJob(id, 'w1', [], Date.now())).kind).toBe('finished');
  await bus.publish({ kind: 'job_event', jobId: id, ended: false }); // not the end: no re-read owed
  await bus.publish(message(id));
  const started = Date.now();
  while (!ended && Date.now() - started < 2_000) await new Promise((r) => setTimeout(r, 10));
  expect(ended).toBe(true); // the safety poll is a minute away
  expect((await waiting).status).toBe('completed');
});
