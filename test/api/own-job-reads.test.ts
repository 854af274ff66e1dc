/**
 * The output download and the event stream's open read only what they need of the caller's job (its outputs,
 * its status), not the whole public view, and answer as before: the bytes or the stream for the owner; 404
 * `not_found` "No job with this id." for another account's job (even under the same user id), another user's
 * or an unknown id; 404 "No output with this index." for an index the job does not have, or a job that did not
 * complete.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildApi, type Api } from '../../src/api/app.js';
import type { JobOutput } from '../../src/jobs/types.js';
import type { ObjectStorage } from '../../src/media/storage/contract.js';
import { openStorage } from '../../src/media/storage/open-storage.js';
import type { Store } from '../../src/store/contract.js';
import { openMigratedStore } from '../../src/store/open.js';
import { apiDeps, injectTenant } from '../support/api-app.js';
import { jobInput } from '../store/fixtures.js';

const ADMIN = { authorization: 'Bearer own-job-reads-admin-key-0123456789' };
/** The full reads of a job: the routes under test must not need them. */
const FULL_READS = new Set<PropertyKey>(['getJobViewFor', 'getJobFor', 'getJob']);

let dir: string;
let store: Store;
let storage: ObjectStorage;
let api: Api;
let url: string;
let fullReads: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'arrakis-own-job-reads-'));
  store = await openMigratedStore(`sqlite:${join(dir, 'db')}`);
  storage = openStorage(`file:${join(dir, 'objects')}`);
  const counted = new Proxy(store, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      const fn = value as (...args: unknown[]) => unknown;
      return (...args: unknown[]) => {
        if (FULL_READS.has(prop)) fullReads.push(String(prop));
        return fn.apply(target, args);
      };
    },
  });
  api = await buildApi(
    apiDeps(dir, counted, { adminKey: ADMIN.authorization.slice('Bearer '.length) }, { storage }),
  );
  url = await api.app.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await api.app.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  fullReads = [];
});

interface Caller {
  key: string;
  user: string;
}

async function get(who: Caller, path: string, headers: Record<string, string> = {}): Promise<Response> {
  return await fetch(`${url}${path}`, {
    headers: { authorization: `Bearer ${who.key}`, 'x-user-id': who.user, ...headers },
  });
}

/** A 404 problem's code and detail. */
async function notFound(res: Response): Promise<{ code: unknown; detail: unknown }> {
  expect(res.status).toBe(404);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = (await res.json()) as { code: unknown; detail: unknown };
  return { code: body.code, detail: body.detail };
}

const NO_JOB = { code: 'not_found', detail: 'No job with this id.' };
const NO_OUTPUT = { code: 'not_found', detail: 'No output with this index.' };

async function admitted(accountId: string, user: string): Promise<string> {
  const r = await store.admitJob(jobInput(accountId, user), Date.now());
  if (r.kind !== 'admitted') throw new Error(r.kind);
  return r.job.id;
}

/** Claims `id` (the only claimable job) for `worker`. */
async function claim(id: string, worker: string): Promise<void> {
  expect((await store.claimNext(worker, 'default', 60_000, Date.now()))?.id).toBe(id);
}

describe('own job reads', () => {
  let owner: Caller;
  let colleague: Caller;
  let stranger: Caller;
  let strangerAccount: string;
  let job: string;
  let png: Buffer;
  beforeAll(async () => {
    const mine = await injectTenant(api.app, ADMIN);
    const theirs = await injectTenant(api.app, ADMIN);
    owner = { key: mine.key, user: 'alice' };
    colleague = { key: mine.key, user: 'bob' };
    // Another account, the same user id.
    stranger = { key: theirs.key, user: 'alice' };
    strangerAccount = theirs.accountId;

    job = await admitted(mine.accountId, 'alice');
    await claim(job, 'w1');
    png = Buffer.from('\x89PNG\r\n\x1a\n the bytes of output 0', 'latin1');
    const key = `jobs/${job}/outputs/1.0-out.png`;
    const stored = await storage.put(key, png, 'image/png');
    const output: JobOutput = {
      index: 0,
      nodeId: '9',
      filename: 'out.png',
      contentType: 'image/png',
      size: stored.size,
      objectKey: key,
    };
    expect((await store.completeJob(job, 'w1', [output], Date.now())).kind).toBe('finished');
  });

  it('an output download: the owner’s bytes; 404 for anyone else, an unknown id or an unknown index', async () => {
    const mine = await get(owner, `/v1/jobs/${job}/outputs/0`);
    expect(mine.status).toBe(200);
    expect(mine.headers.get('content-type')).toBe('image/png');
    expect(mine.headers.get('content-disposition')).toBe('inline; filename="out.png"');
    expect(Buffer.from(await mine.arrayBuffer()).equals(png)).toBe(true);

    expect(await notFound(await get(owner, `/v1/jobs/${job}/outputs/1`))).toEqual(NO_OUTPUT);
    expect(await notFound(await get(stranger, `/v1/jobs/${job}/outputs/0`))).toEqual(NO_JOB);
    expect(await notFound(await get(colleague, `/v1/jobs/${job}/outputs/0`))).toEqual(NO_JOB);
    expect(await notFound(await get(owner, `/v1/jobs/job_missing/outputs/0`))).toEqual(NO_JOB);
    expect(fullReads).toEqual([]);
  });

  it('an output download of a job that did not complete: 404, no output with this index', async () => {
    // The stranger's own jobs: one queued, then one that failed.
    const queued = await admitted(strangerAccount, 'alice');
    expect(await notFound(await get(stranger, `/v1/jobs/${queued}/outputs/0`))).toEqual(NO_OUTPUT);
    await claim(queued, 'w2');
    expect(await notFound(await get(stranger, `/v1/jobs/${queued}/outputs/0`))).toEqual(NO_OUTPUT);
    const error = { code: 'execution_error' as const, message: 'boom' };
    expect((await store.failJob(queued, 'w2', error, Date.now())).kind).toBe('finished');
    expect(await notFound(await get(stranger, `/v1/jobs/${queued}/outputs/0`))).toEqual(NO_OUTPUT);
    // …and still nothing of it for the owner of the completed job, whose user id is the same.
    expect(await notFound(await get(owner, `/v1/jobs/${queued}/outputs/0`))).toEqual(NO_JOB);
    expect(fullReads).toEqual([]);
  });

  it('an event stream: the owner’s log (or its status when it is empty); 404 for anyone else', async () => {
    // The finished job's log, to its end.
    const whole = await get(owner, `/v1/jobs/${job}/events`);
    expect(whole.status).toBe(200);
    const log = await whole.text();
    expect(log).toContain('event: output');
    expect(log).toMatch(/event: done\ndata: \{"status":"completed"/);
    // Resumed after `done` of a finished job: an empty stream that ends (its status says it is over).
    const last = [...log.matchAll(/^id: (\d+)$/gm)].at(-1)?.[1];
    const resumed = await get(owner, `/v1/jobs/${job}/events`, { 'last-event-id': String(last) });
    expect(resumed.status).toBe(200);
    expect(await resumed.text()).toBe(': arrakis job events\nretry: 2000\n\n');

    expect(await notFound(await get(stranger, `/v1/jobs/${job}/events`))).toEqual(NO_JOB);
    expect(await notFound(await get(colleague, `/v1/jobs/${job}/events`))).toEqual(NO_JOB);
    expect(await notFound(await get(owner, `/v1/jobs/job_missing/events`))).toEqual(NO_JOB);

    // A job nothing has happened to yet: its status as a snapshot.
    const queued = await admitted(strangerAccount, 'alice');
    const ac = new AbortController();
    const fresh = await fetch(`${url}/v1/jobs/${queued}/events`, {
      headers: { authorization: `Bearer ${stranger.key}`, 'x-user-id': stranger.user },
      signal: ac.signal,
    });
    expect(fresh.status).toBe(200);
    const reader = fresh.body!.pipeThrough(new TextDecoderStream()).getReader();
    let head = '';
    while (!head.includes('snapshot')) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`stream ended: ${head}`);
      head += value;
    }
    expect(head).toContain('event: status\ndata: {"status":"queued","snapshot":true}\n\n');
    ac.abort();
    await reader.cancel().catch(() => undefined);
    expect(await notFound(await get(owner, `/v1/jobs/${queued}/events`))).toEqual(NO_JOB);
    expect(fullReads).toEqual([]);
  });

  it('GET /v1/jobs/{id} still answers from the full view (the reads above are the narrow ones)', async () => {
    const res = await get(owner, `/v1/jobs/${job}`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { status: string }).status).toBe('completed');
    expect(fullReads).toEqual(['getJobViewFor']);
  });
});
