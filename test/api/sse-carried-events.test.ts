/**
 * A job's end reaches its client with no store read on the replica that committed it, on SQLite and Postgres
 * through a real HTTP server: an open event stream writes the completion's events (last progress, outputs,
 * done) from the bus message that announced them, without reading the log; the owner's download right after
 * reads no outputs from the store, while another user's still gets 404. A gap (an event committed with no
 * message) or news without events still reads the log, and every event reaches the stream once, in order.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildApi, type Api } from '../../src/api/app.js';
import type { EventBus } from '../../src/events/bus.js';
import { createLocalBus } from '../../src/events/local-bus.js';
import { JobLifecycle } from '../../src/jobs/lifecycle/job-lifecycle.js';
import type { JobView } from '../../src/jobs/public-job.js';
import { RecentCompletions } from '../../src/jobs/recent-completions.js';
import type { JobOutput, JobProgress } from '../../src/jobs/types.js';
import type { JobEvent, Store } from '../../src/store/contract.js';
import { apiDeps, injectTenant } from '../support/api-app.js';
import { BACKENDS, type TestDb } from '../store/backends.js';
import { jobInput } from '../store/fixtures.js';
import { invertWorkflow } from '../support/server.js';

const ADMIN = { authorization: 'Bearer sse-carried-admin-key-0123456789abcdef' };
const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe.each(BACKENDS)('events and outputs of a job completed on this replica, on $name', (backend) => {
  let dir: string;
  let db: TestDb;
  let api: Api;
  let url: string;
  let tenant: { accountId: string; key: string };
  let lifecycle: JobLifecycle;
  let bus: EventBus;
  let logReads: number;
  let outputReads: number;
  let viewReads: number;
  let recentCompletions: RecentCompletions;
  /** While set, the next log read answers once it resolves (a read in progress while a job ends). */
  let gate: Promise<void> | undefined;
  let storagePut: (key: string, bytes: Buffer) => Promise<unknown>;
  const aborts: AbortController[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'arrakis-sse-carried-'));
    db = await backend.create();
    logReads = 0;
    outputReads = 0;
    viewReads = 0;
    gate = undefined;
    const counted = new Proxy(db.store, {
      get(target, prop, receiver) {
        if (prop === 'listJobEvents') {
          return async (jobId: string, afterSeq: number): Promise<JobEvent[]> => {
            logReads++;
            const wait = gate;
            gate = undefined;
            const rows = await target.listJobEvents(jobId, afterSeq);
            if (wait !== undefined) await wait;
            return rows;
          };
        }
        if (prop === 'getJobViewFor') {
          return (accountId: string, userId: string, id: string): Promise<JobView | null> => {
            viewReads++;
            return target.getJobViewFor(accountId, userId, id);
          };
        }
        if (prop === 'jobOutputsFor') {
          return (accountId: string, userId: string, id: string): Promise<JobOutput[] | null> => {
            outputReads++;
            return target.jobOutputsFor(accountId, userId, id);
          };
        }
        const value: unknown = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    }) satisfies Store;
    bus = createLocalBus();
    recentCompletions = new RecentCompletions();
    // The worker service's wiring (src/runtime/control-plane.ts): its lifecycle fills the memory on an end.
    lifecycle = new JobLifecycle({
      store: db.store,
      bus,
      observer: { ended: (job) => recentCompletions.remember(job) },
    });
    const deps = apiDeps(
      dir,
      counted,
      { adminKey: ADMIN.authorization.slice('Bearer '.length) },
      { bus, recentCompletions, eventPollMs: 600_000 },
    );
    storagePut = (key, bytes) => deps.storage.put(key, bytes, 'image/png');
    api = await buildApi(deps);
    url = await api.app.listen({ host: '127.0.0.1', port: 0 });
    tenant = await injectTenant(api.app, ADMIN);
  });

  afterEach(async () => {
    for (const ac of aborts.splice(0)) ac.abort();
    await api.app.close();
    await db.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A running job of `u1` (claimed by `w1` in the store: no bus message). */
  async function runningJob(): Promise<string> {
    const admitted = await db.store.admitJob(jobInput(tenant.accountId, 'u1'), Date.now());
    if (admitted.kind !== 'admitted') throw new Error(admitted.kind);
    expect((await db.store.claimNext('w1', 'default', 60_000, Date.now()))?.id).toBe(admitted.job.id);
    return admitted.job.id;
  }

  /** An event stream on `id`, read until its `running` status event (seq 1). */
  async function openStream(id: string): Promise<{ text: () => string; ended: Promise<void> }> {
    const ac = new AbortController();
    aborts.push(ac);
    const res = await fetch(`${url}/v1/jobs/${id}/events`, {
      headers: { authorization: `Bearer ${tenant.key}`, 'x-user-id': 'u1' },
      signal: ac.signal,
    });
    expect(res.status).toBe(200);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    let headRead: () => void = () => {};
    const head = new Promise<void>((r) => (headRead = r));
    const ended = (async () => {
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: '', done: true }));
        if (done) return;
        text += value;
        if (text.includes('event: status')) headRead();
      }
    })();
    await head;
    return { text: () => text, ended };
  }

  /** The seqs and types of the events in `text`, in order. */
  function events(text: string): Array<[number, string]> {
    return [...text.matchAll(/^id: (\d+)\nevent: (\w+)$/gm)].map((m) => [Number(m[1]), m[2]!]);
  }

  async function outputsOf(id: string): Promise<JobOutput[]> {
    const key = `jobs/${id}/outputs/1.0-out.png`;
    await storagePut(key, PNG);
    return [
      {
        index: 0,
        nodeId: '3',
        filename: 'out.png',
        contentType: 'image/png',
        size: PNG.length,
        objectKey: key,
      },
    ];
  }

  function download(id: string, user: string, key = tenant.key): Promise<Response> {
    return fetch(`${url}/v1/jobs/${id}/outputs/0`, {
      headers: { authorization: `Bearer ${key}`, 'x-user-id': user },
    });
  }

  /** What the stream wrote after its first event is the log's rows, byte for byte. */
  async function expectWrittenAsLogged(text: string, id: string): Promise<void> {
    for (const e of await db.store.listJobEvents(id, 1))
      expect(text).toContain(`id: ${e.seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e.data)}\n\n`);
  }

  /** Completes job `id` under w1 (with the run's last `progress` when given); the events `stream` then sent. */
  async function completedSeen(
    id: string,
    stream: Awaited<ReturnType<typeof openStream>>,
    progress?: JobProgress,
  ): Promise<[number, string][]> {
    expect((await lifecycle.complete(id, 'w1', await outputsOf(id), progress)).kind).toBe('completed');
    await stream.ended;
    return events(stream.text());
  }

  /** A stream open on a running job that completes here (with `progress`): it sends `seen`, reading no log. */
  async function completedWithoutRead(
    progress: JobProgress | undefined,
    seen: [number, string][],
  ): Promise<void> {
    const id = await runningJob();
    const stream = await openStream(id);
    const before = logReads;
    expect(await completedSeen(id, stream, progress)).toEqual(seen);
    expect(logReads - before).toBe(0);
    await expectWrittenAsLogged(stream.text(), id);
  }

  it('a stream open when its job completes here gets outputs and done with no log read', async () => {
    await completedWithoutRead(undefined, [
      [1, 'status'],
      [2, 'output'],
      [3, 'done'],
    ]);
  });

  it('the owner’s download right after completion reads no outputs from the store; others get 404', async () => {
    const id = await runningJob();
    expect((await lifecycle.complete(id, 'w1', await outputsOf(id))).kind).toBe('completed');
    const own = await download(id, 'u1');
    expect(own.status).toBe(200);
    expect(Buffer.from(await own.arrayBuffer())).toEqual(PNG);
    expect(outputReads).toBe(0);

    const otherUser = await download(id, 'u2');
    expect(otherUser.status).toBe(404);
    expect(((await otherUser.json()) as { code: string }).code).toBe('not_found');
    const other = await injectTenant(api.app, ADMIN);
    expect((await download(id, 'u1', other.key)).status).toBe(404);
    // A job it did not complete (or forgot) is the store's to answer.
    expect((await download('job_unknown', 'u1')).status).toBe(404);
  });

  it('a read of the job right after its completion here is answered from memory, as the store would', async () => {
    const admitted = await db.store.admitJob(
      jobInput(tenant.accountId, 'u1', { metadata: { order: 7 }, templateName: null }),
      Date.now(),
    );
    if (admitted.kind !== 'admitted') throw new Error(admitted.kind);
    const id = admitted.job.id;
    expect((await db.store.claimNext('w1', 'default', 60_000, Date.now()))?.id).toBe(id);
    const last: JobProgress = { value: 4, max: 4, node: '3' };
    expect((await lifecycle.complete(id, 'w1', await outputsOf(id), last)).kind).toBe('completed');
    const res = await fetch(`${url}/v1/jobs/${id}`, {
      headers: { authorization: `Bearer ${tenant.key}`, 'x-user-id': 'u1' },
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status: string; outputs: unknown[]; metadata: unknown };
    expect(body).toMatchObject({ status: 'completed', metadata: { order: 7 } });
    expect(body.outputs).toHaveLength(1);
    expect(viewReads).toBe(0);
    // The memory's view is the store's, field for field.
    expect(recentCompletions.viewFor(tenant.accountId, 'u1', id)).toEqual(
      await db.store.getJobViewFor(tenant.accountId, 'u1', id),
    );
    // Another user of the account reads the store, and gets the same 404 as for an unknown id.
    const other = await fetch(`${url}/v1/jobs/${id}`, {
      headers: { authorization: `Bearer ${tenant.key}`, 'x-user-id': 'u2' },
    });
    expect(other.status).toBe(404);
    expect(viewReads).toBe(1);
  });

  it('a Prefer: wait hold woken by a completion here answers without reading the job again', async () => {
    const held = fetch(`${url}/v1/jobs`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${tenant.key}`,
        'x-user-id': 'u1',
        'content-type': 'application/json',
        prefer: 'wait=30',
      },
      body: JSON.stringify({ workflow: invertWorkflow() }),
    });
    // The hold reads its job once as it starts; then it waits for the job's end.
    for (let i = 0; viewReads === 0; i++) {
      if (i > 500) throw new Error('the hold never started');
      await pause(10);
    }
    const { jobs } = await db.store.listJobs({ accountId: tenant.accountId, userId: 'u1', limit: 5 });
    expect(jobs).toHaveLength(1);
    const id = jobs[0]!.id;
    expect((await db.store.claimNext('w1', 'default', 60_000, Date.now()))?.id).toBe(id);
    expect((await lifecycle.complete(id, 'w1', await outputsOf(id))).kind).toBe('completed');
    const res = await held;
    expect(res.status).toBe(200);
    expect(((await res.json()) as { status: string }).status).toBe('completed');
    expect(viewReads).toBe(1);
  });

  it('an event committed with no bus message before the completion: the log is read, each event once', async () => {
    const id = await runningJob();
    const stream = await openStream(id);
    const before = logReads;
    await db.store.appendJobEvent(id, 'progress', { value: 1, max: 2 }, Date.now()); // no message: a gap
    expect(await completedSeen(id, stream, { node: '3', value: 2, max: 2 })).toEqual([
      [1, 'status'],
      [2, 'progress'],
      [3, 'progress'],
      [4, 'output'],
      [5, 'done'],
    ]);
    expect(logReads - before).toBe(1);
  });

  it('a completion with the run’s last progress (carried first) reads no log', async () => {
    await completedWithoutRead({ node: '3', value: 2, max: 2 }, [
      [1, 'status'],
      [2, 'progress'],
      [3, 'output'],
      [4, 'done'],
    ]);
  });

  it('a completion heard while a read is in progress is written from its message after that read, once', async () => {
    const id = await runningJob();
    const stream = await openStream(id);
    const before = logReads;
    let answer: () => void = () => {};
    gate = new Promise<void>((r) => (answer = r));
    // News without events (as from another replica): the pump reads the log; its answer is held back.
    await bus.publish({ kind: 'job_event', jobId: id });
    while (logReads === before) await pause(5);
    expect((await lifecycle.complete(id, 'w1', await outputsOf(id))).kind).toBe('completed');
    await pause(20); // the completion's message is heard while the read is still in progress
    answer(); // the read, taken before the completion committed, answers nothing new
    await stream.ended;
    expect(events(stream.text())).toEqual([
      [1, 'status'],
      [2, 'output'],
      [3, 'done'],
    ]);
    expect(logReads - before).toBe(1);
  });
});
