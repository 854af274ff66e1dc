/**
 * The event streams' safety poll, on SQLite and Postgres through a real HTTP server: one read of the open
 * streams' jobs' last event seqs per period for the whole replica (not a log read per stream), an event written
 * without a bus message still reaching its stream within a period, a failing read logged once while the streams
 * stay open, and a drained replica polling no more.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { get, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildApi, type Api } from '../../src/api/app.js';
import type { JobEvent, Store } from '../../src/store/contract.js';
import { apiDeps, injectTenant } from '../support/api-app.js';
import { BACKENDS, type TestDb } from '../store/backends.js';
import { jobInput } from '../store/fixtures.js';

const ADMIN = { authorization: 'Bearer sse-poll-admin-key-0123456789abcdef' };
const POLL_MS = 100;
const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const total = (counts: Map<string, number>): number => [...counts.values()].reduce((a, b) => a + b, 0);

describe.each(BACKENDS)('event stream safety poll on $name', (backend) => {
  let dir: string;
  let db: TestDb;
  let api: Api;
  let url: string;
  let tenant: { accountId: string; key: string };
  /** Calls of the store the API uses: log reads by job id, and the ids of each seq read. */
  let logReads: Map<string, number>;
  let seqReads: Array<readonly string[]>;
  /** While set, the seq read fails as a lost database would. */
  let failing: boolean;
  /** While set, the seq read waits for it, then fails (a read the shutdown cut off). */
  let cutOff: Promise<void> | undefined;
  let logLines: Array<{ level: number; msg: string }>;
  const open: IncomingMessage[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'arrakis-sse-poll-'));
    db = await backend.create();
    logReads = new Map();
    seqReads = [];
    failing = false;
    cutOff = undefined;
    logLines = [];
    const store = db.store;
    const counted = new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === 'listJobEvents') {
          return (jobId: string, afterSeq: number): Promise<JobEvent[]> => {
            logReads.set(jobId, (logReads.get(jobId) ?? 0) + 1);
            return target.listJobEvents(jobId, afterSeq);
          };
        }
        if (prop === 'jobEventSeqs') {
          return (ids: readonly string[]): Promise<Map<string, number>> => {
            seqReads.push([...ids]);
            if (failing) return Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432'));
            if (cutOff !== undefined) {
              return cutOff.then(() => Promise.reject(new Error('the database connection is not open')));
            }
            return target.jobEventSeqs(ids);
          };
        }
        const value: unknown = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    }) satisfies Store;
    const log = pino(
      { level: 'info' },
      {
        write: (line: string) => {
          logLines.push(JSON.parse(line) as { level: number; msg: string });
        },
      },
    );
    api = await buildApi(
      apiDeps(
        dir,
        counted,
        { adminKey: ADMIN.authorization.slice('Bearer '.length) },
        { eventPollMs: POLL_MS, log },
      ),
    );
    url = await api.app.listen({ host: '127.0.0.1', port: 0 });
    tenant = await injectTenant(api.app, ADMIN);
  });

  afterEach(async () => {
    for (const res of open.splice(0)) res.destroy();
    await api.app.close();
    await db.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A queued job (written by the store: no bus message) and an open event stream on it. */
  async function openStream(userId = 'u1'): Promise<{
    id: string;
    text: () => string;
    ended: () => boolean;
  }> {
    const admitted = await db.store.admitJob(jobInput(tenant.accountId, userId), Date.now());
    if (admitted.kind !== 'admitted') throw new Error(admitted.kind);
    const id = admitted.job.id;
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      get(
        `${url}/v1/jobs/${id}/events`,
        { headers: { authorization: `Bearer ${tenant.key}`, 'x-user-id': userId } },
        resolve,
      ).on('error', reject);
    });
    open.push(res);
    expect(res.statusCode).toBe(200);
    let text = '';
    let ended = false;
    res.setEncoding('utf8');
    res.on('data', (c: string) => (text += c));
    res.on('end', () => (ended = true));
    while (!text.includes('snapshot')) await pause(5); // the head, with the queued snapshot
    return { id, text: () => text, ended: () => ended };
  }

  /** Resolves once the poll has started `n` more seq reads. */
  async function ticks(n: number): Promise<void> {
    const target = seqReads.length + n;
    const deadline = Date.now() + 10_000;
    while (seqReads.length < target) {
      if (Date.now() > deadline) throw new Error(`${n} polls not within 10 s (${seqReads.length} so far)`);
      await pause(10);
    }
  }

  async function within(what: string, ok: () => boolean, ms = 5_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!ok()) {
      if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
      await pause(10);
    }
  }

  it('reads the last seqs of every open stream’s job once per period, and no stream’s log', async () => {
    const streams = [];
    for (let i = 0; i < 12; i++) streams.push(await openStream(`u${i}`));
    await ticks(1);
    const logReadsBefore = total(logReads);
    const seqReadsBefore = seqReads.length;
    await ticks(3);
    // Three periods of 12 idle streams: three seq reads naming all 12 jobs, and no log read.
    expect(total(logReads) - logReadsBefore).toBe(0);
    const polled = seqReads.slice(seqReadsBefore, seqReadsBefore + 3);
    for (const ids of polled) expect([...ids].sort()).toEqual(streams.map((s) => s.id).sort());
    expect(streams.every((s) => !s.ended())).toBe(true);
  });

  it('an event written without a bus message reaches its stream within a poll period; done ends it', async () => {
    const idle = await openStream();
    const s = await openStream();
    const idleReads = logReads.get(idle.id);
    const progress = await db.store.appendJobEvent(s.id, 'progress', { value: 1, max: 2 }, Date.now());
    await within('the progress event', () => s.text().includes(`id: ${progress.seq}\nevent: progress`));
    // Only the stream whose job moved read its log.
    expect(logReads.get(idle.id)).toBe(idleReads);
    const done = await db.store.appendJobEvent(
      s.id,
      'done',
      { status: 'completed', error: null },
      Date.now(),
    );
    await within('the end of the stream', () => s.ended());
    expect(s.text()).toContain(`id: ${done.seq}\nevent: done`);
    expect(idle.ended()).toBe(false);
  });

  it('a failing read is logged once, the streams stay open, and the next read after it delivers', async () => {
    const s = await openStream();
    failing = true;
    await ticks(3);
    const event = await db.store.appendJobEvent(s.id, 'progress', { value: 1, max: 2 }, Date.now());
    await ticks(2);
    expect(s.ended()).toBe(false);
    expect(s.text()).not.toContain('event: progress');
    const warned = logLines.filter((l) => l.msg.startsWith('event stream poll failed'));
    expect(warned).toHaveLength(1);
    failing = false;
    await within('the progress event', () => s.text().includes(`id: ${event.seq}\nevent: progress`));
    expect(logLines.filter((l) => l.msg === 'event stream poll recovered')).toHaveLength(1);
  });

  it('a drained replica ends its streams and polls no more', async () => {
    const s = await openStream();
    await ticks(1);
    api.drain();
    await within('the end of the stream', () => s.ended());
    const after = seqReads.length;
    await pause(POLL_MS * 4);
    expect(seqReads.length).toBe(after);
  });

  it('a read under way when the replica drains, failing as the store closes, is no outage to log', async () => {
    const s = await openStream();
    let close!: () => void;
    cutOff = new Promise((resolve) => (close = resolve));
    await ticks(1);
    api.drain();
    await within('the end of the stream', () => s.ended());
    close();
    await pause(POLL_MS * 2);
    expect(logLines.filter((l) => l.msg.startsWith('event stream poll failed'))).toEqual([]);
  });
});
