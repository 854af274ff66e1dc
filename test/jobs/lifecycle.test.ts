/**
 * The job lifecycle: each verb performs its store transition, tells its observer, then publishes exactly the
 * bus messages that follow it, in order. A transition that finds nothing to do publishes nothing.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BusMessage, EventBus } from '../../src/events/bus.js';
import { createLocalBus } from '../../src/events/local-bus.js';
import { JobLifecycle } from '../../src/jobs/lifecycle/job-lifecycle.js';
import type { Job, JobEvent } from '../../src/jobs/types.js';
import type { Store } from '../../src/store/contract.js';
import { openStore } from '../../src/store/open.js';
import { jobInput, makeAccount } from '../store/fixtures.js';

let dir: string;
let store: Store;
let bus: EventBus;
let accountId: string;
/**
 * Observer calls (`observed <hook> <status>`) and bus messages, in the order they happened; a job event's
 * carried events are kept apart, in `carried` (by job id), so the messages compare as they read.
 */
let seen: Array<string | BusMessage>;
let carried: Map<string, JobEvent[]>;
let lifecycle: JobLifecycle;
let clock: number;

const note =
  (hook: string) =>
  (job: Job): void => {
    seen.push(`observed ${hook} ${job.status}`);
  };

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'arrakis-lifecycle-'));
  store = await openStore(`sqlite:${join(dir, 'a.db')}`);
  await store.migrate();
  accountId = (await makeAccount(store, { max_active_jobs_per_user: 100 })).id;
  bus = createLocalBus();
  seen = [];
  carried = new Map();
  bus.subscribe((m) => {
    if (m.kind !== 'job_event' || m.events === undefined) return void seen.push(m);
    const { events, ...message } = m;
    carried.set(m.jobId, [...(carried.get(m.jobId) ?? []), ...events]);
    seen.push(message);
  });
  clock = 10_000;
  lifecycle = new JobLifecycle({
    store,
    bus,
    now: () => clock,
    observer: {
      admitted: note('admitted'),
      claimed: note('claimed'),
      inputsReady: note('inputsReady'),
      requeued: note('requeued'),
      ended: note('ended'),
    },
  });
});
afterEach(async () => {
  await bus.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** What was seen since the last call, once the local bus delivered (it delivers on a microtask). */
async function drain(): Promise<Array<string | BusMessage>> {
  await new Promise((r) => setImmediate(r));
  return seen.splice(0);
}

async function running(pool = 'default'): Promise<Job> {
  const admitted = await lifecycle.admit(jobInput(accountId, 'u1', { pool }));
  if (admitted.kind !== 'admitted') throw new Error(admitted.kind);
  const claimed = await lifecycle.claim('w1', pool, 1_000);
  if (claimed === null) throw new Error('nothing claimed');
  await drain();
  return claimed.job;
}

describe('JobLifecycle', () => {
  it('admission wakes the pool of a claimable job, after its observer; a replay or a URL-input job publishes nothing', async () => {
    const first = await lifecycle.admit(jobInput(accountId, 'u1', { pool: 'gpu', idempotencyKey: 'k' }));
    expect(first.kind).toBe('admitted');
    expect(await drain()).toEqual(['observed admitted queued', { kind: 'job_ready', pool: 'gpu' }]);
    expect(
      (await lifecycle.admit(jobInput(accountId, 'u1', { pool: 'gpu', idempotencyKey: 'k' }))).kind,
    ).toBe('replayed');
    const fetching = jobInput(accountId, 'u1', {
      inputsReady: false,
      inputs: [{ name: 'face', url: 'https://x.test/a.png', filename: 'a.png' }],
    });
    expect((await lifecycle.admit(fetching)).kind).toBe('admitted');
    expect(await drain()).toEqual(['observed admitted queued']);
  });

  it('a claim announces the running job; a claim that finds nothing publishes nothing', async () => {
    expect(await lifecycle.claim('w1', 'default', 1_000)).toBeNull();
    expect(await drain()).toEqual([]);
    const admitted = await lifecycle.admit(jobInput(accountId, 'u1'));
    await drain();
    const job = (await lifecycle.claim('w1', 'default', 1_000))?.job;
    expect(job?.status).toBe('running');
    expect(await drain()).toEqual([
      'observed claimed running',
      { kind: 'job_event', jobId: job!.id, ended: false },
    ]);
    expect(admitted.kind === 'admitted' && admitted.job.id).toBe(job!.id);
  });

  it('cancel: a running job hears `cancel` before `job_event`; a queued one ends at once; an ended one is left alone', async () => {
    const job = await running();
    expect((await lifecycle.cancel(accountId, 'u1', job.id)).kind).toBe('cancel_requested');
    expect(await drain()).toEqual([
      { kind: 'cancel', jobId: job.id },
      { kind: 'job_event', jobId: job.id, ended: false },
    ]);
    const ended = await lifecycle.finishCancel(job.id, 'w1');
    expect(ended.kind).toBe('cancelled');
    expect(await drain()).toEqual([
      'observed ended cancelled',
      { kind: 'job_event', jobId: job.id, ended: true },
    ]);
    const again = await lifecycle.cancel(accountId, 'u1', job.id);
    expect(again.kind === 'already_ended' && again.job.status).toBe('cancelled');
    expect((await lifecycle.cancel(accountId, 'u1', 'job_nope')).kind).toBe('not_found');
    expect(await drain()).toEqual([]);

    const queued = await lifecycle.admit(jobInput(accountId, 'u1', { pool: 'idle' }));
    await drain();
    const id = queued.kind === 'admitted' ? queued.job.id : '';
    expect((await lifecycle.cancel(accountId, 'u1', id)).kind).toBe('cancelled');
    expect(await drain()).toEqual([
      'observed ended cancelled',
      { kind: 'job_event', jobId: id, ended: true },
    ]);
  });

  it('reports name their outcome: completed, failed, requeued (which wakes the pool), lost (which publishes nothing)', async () => {
    const a = await running();
    expect((await lifecycle.complete(a.id, 'w2', [])).kind).toBe('lost');
    expect(await drain()).toEqual([]);
    expect((await lifecycle.complete(a.id, 'w1', [])).kind).toBe('completed');
    expect(await drain()).toEqual([
      'observed ended completed',
      { kind: 'job_event', jobId: a.id, ended: true },
    ]);

    const b = await running('gpu');
    const requeued = await lifecycle.release(b.id, 'w1', { maxAttempts: 3, reason: 'comfy restarted' });
    expect(requeued.kind === 'requeued' && requeued.job.status).toBe('queued');
    expect(await drain()).toEqual([
      'observed requeued queued',
      { kind: 'job_event', jobId: b.id, ended: false, requeued: true },
      { kind: 'job_ready', pool: 'gpu' },
    ]);
    await lifecycle.claim('w1', 'gpu', 1_000);
    await drain();
    expect((await lifecycle.release(b.id, 'w1', { maxAttempts: 2, reason: 'again' })).kind).toBe('failed');
    expect(await drain()).toEqual(['observed ended failed', { kind: 'job_event', jobId: b.id, ended: true }]);

    const c = await running();
    const failed = await lifecycle.fail(c.id, 'w1', { code: 'execution_error', message: 'boom' });
    expect(failed.kind === 'failed' && failed.job.error?.code).toBe('execution_error');
    expect(await drain()).toEqual(['observed ended failed', { kind: 'job_event', jobId: c.id, ended: true }]);
  });

  it('a voluntary release does not spend the attempt (and keeps its number)', async () => {
    const job = await running();
    const back = await lifecycle.release(job.id, 'w1', {
      maxAttempts: 1,
      reason: 'stopping',
      voluntary: true,
    });
    expect(back.kind === 'requeued' && back.job.attempts).toBe(1);
  });

  it('an expired lease is released: the job is announced and its pool woken', async () => {
    const job = await running('gpu');
    clock = 60_000;
    expect(await lifecycle.expireLeases(3)).toEqual([{ jobId: job.id, outcome: 'requeued' }]);
    expect(await drain()).toEqual([
      'observed requeued queued',
      { kind: 'job_event', jobId: job.id, ended: false, requeued: true },
      { kind: 'job_ready', pool: 'gpu' },
    ]);
    expect(await lifecycle.expireLeases(3)).toEqual([]);
    expect(await drain()).toEqual([]);
  });

  it('a lease sweep whose job read fails still announces every released job and wakes every pool', async () => {
    const a = await running('gpu');
    const b = await running('cpu');
    clock = 60_000;
    const blip = new JobLifecycle({
      store: Object.assign(Object.create(store) as Store, {
        getJob: () => Promise.reject(new Error('connection terminated')),
      }),
      bus,
      now: () => clock,
    });
    const outcomes = await blip.expireLeases(3);
    expect(outcomes.map((o) => o.outcome)).toEqual(['requeued', 'requeued']);
    const seen = await drain();
    for (const job of [a, b])
      expect(seen).toContainEqual({ kind: 'job_event', jobId: job.id, ended: false, requeued: true });
    expect(seen.filter((m) => typeof m !== 'string' && m.kind === 'job_ready')).toEqual([
      { kind: 'job_ready', pool: null },
      { kind: 'job_ready', pool: null },
    ]);
  });

  it('progress is appended to the job events and announced; progress of a job not held is not', async () => {
    const job = await running();
    expect(await lifecycle.reportProgress(job.id, 'w2', { value: 1, max: 2, node: '1' })).toBe(false);
    expect(await drain()).toEqual([]);
    expect(await lifecycle.reportProgress(job.id, 'w1', { value: 1, max: 2, node: '1' })).toBe(true);
    expect(await drain()).toEqual([{ kind: 'job_event', jobId: job.id, ended: false }]);
    const types = (await store.listJobEvents(job.id, 0)).map((e) => e.type);
    expect(types.at(-1)).toBe('progress');
  });

  it('a completion announces its outputs and done with one job_event (one commit)', async () => {
    const job = await running();
    const output = {
      index: 0,
      nodeId: '9',
      filename: 'out.png',
      contentType: 'image/png',
      size: 3,
      objectKey: `jobs/${job.id}/outputs/1.0-out.png`,
    };
    expect((await lifecycle.complete(job.id, 'w1', [output])).kind).toBe('completed');
    expect((await drain()).filter((m) => typeof m !== 'string' && m.kind === 'job_event')).toEqual([
      { kind: 'job_event', jobId: job.id, ended: true },
    ]);
    const log = await store.listJobEvents(job.id, 0);
    expect(log.map((e) => e.type).slice(-2)).toEqual(['output', 'done']);
    // The message carries them (for this replica's event streams), as the log holds them.
    expect(carried.get(job.id)).toEqual(log.slice(-2));
  });

  it('input fetching: ready wakes the pool; a failed fetch tells the observer the failed job (not the queued one)', async () => {
    const fetching = jobInput(accountId, 'u1', {
      pool: 'gpu',
      inputsReady: false,
      inputs: [{ name: 'face', url: 'https://x.test/a.png', filename: 'a.png' }],
    });
    const a = await lifecycle.admit(fetching);
    const b = await lifecycle.admit(fetching);
    if (a.kind !== 'admitted' || b.kind !== 'admitted') throw new Error('not admitted');
    await drain();
    const stored = [{ name: 'face', filename: 'a.png', objectKey: `jobs/${a.job.id}/inputs/face.png` }];
    expect(await lifecycle.inputsReady(a.job, stored)).toBe(true);
    expect(await drain()).toEqual(['observed inputsReady queued', { kind: 'job_ready', pool: 'gpu' }]);
    const error = { code: 'input_fetch_failed', message: 'input "face": 404' } as const;
    expect((await lifecycle.inputsFailed(b.job.id, error))?.status).toBe('failed');
    expect(await drain()).toEqual([
      'observed ended failed',
      { kind: 'job_event', jobId: b.job.id, ended: true },
    ]);
    expect(await lifecycle.inputsFailed(b.job.id, error)).toBeNull();
    expect(await lifecycle.inputsReady(b.job, stored)).toBe(false);
    expect(await drain()).toEqual([]);
  });

  it('an ending job with a webhook URL wakes the deliverers (webhook_due); one without, or a requeue, does not', async () => {
    const hooked = async (): Promise<Job> => {
      const admitted = await lifecycle.admit(
        jobInput(accountId, 'u1', { webhookUrl: 'https://hooks.test/a' }),
      );
      if (admitted.kind !== 'admitted') throw new Error(admitted.kind);
      return admitted.job;
    };
    // Queued and cancelled: ends at once.
    const queued = await hooked();
    await drain();
    expect((await lifecycle.cancel(accountId, 'u1', queued.id)).kind).toBe('cancelled');
    expect(await drain()).toEqual([
      'observed ended cancelled',
      { kind: 'job_event', jobId: queued.id, ended: true },
      { kind: 'webhook_due' },
    ]);
    // Running, released back to the queue (no end, no webhook), then failed for good by a lease sweep.
    const job = await hooked();
    expect((await lifecycle.claim('w1', 'default', 1_000))?.job.id).toBe(job.id);
    await drain();
    const back = await lifecycle.release(job.id, 'w1', { maxAttempts: 2, reason: 'blip' });
    expect(back.kind).toBe('requeued');
    expect((await drain()).filter((m) => typeof m !== 'string' && m.kind === 'webhook_due')).toEqual([]);
    expect((await lifecycle.claim('w1', 'default', 1_000))?.job.id).toBe(job.id);
    await drain();
    clock = 60_000;
    expect(await lifecycle.expireLeases(2)).toEqual([{ jobId: job.id, outcome: 'failed' }]);
    expect(await drain()).toEqual([
      'observed ended failed',
      { kind: 'job_event', jobId: job.id, ended: true },
      { kind: 'webhook_due' },
    ]);
    // Completed by its worker.
    const done = await hooked();
    expect((await lifecycle.claim('w1', 'default', 100_000))?.job.id).toBe(done.id);
    await drain();
    expect((await lifecycle.complete(done.id, 'w1', [])).kind).toBe('completed');
    expect((await drain()).filter((m) => typeof m !== 'string')).toEqual([
      { kind: 'job_event', jobId: done.id, ended: true },
      { kind: 'webhook_due' },
    ]);
    // No webhook URL: the end is announced, the deliverers are not woken.
    const plain = await running();
    expect((await lifecycle.complete(plain.id, 'w1', [])).kind).toBe('completed');
    expect((await drain()).filter((m) => typeof m !== 'string')).toEqual([
      { kind: 'job_event', jobId: plain.id, ended: true },
    ]);
  });

  it('is the only publisher: nothing else in src calls publish() but the Postgres bus relaying to its local one', () => {
    const files = readdirSync('src', { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
    const publishers = files
      .map((f) => f.replaceAll('\\', '/'))
      .filter((f) => /\.publish\(/.test(readFileSync(join('src', f), 'utf8')))
      .sort();
    expect(publishers).toEqual([
      'jobs/lifecycle/lifecycle-deps.ts',
      // The cross-replica bus hands what it publishes, and what other replicas published, to its local bus.
      'store/postgres/listen-bus.ts',
      // A diagnostics_channel for bench/dispatch --trace stage marks, not the event bus.
      'util/job-trace.ts',
    ]);
  });
});
