/**
 * `Prefer: wait` holds on the replica's safety poll (event-poll.ts), on SQLite and Postgres through a real HTTP
 * server: idle holds cost the poll's seq read per period, not a re-read each, and a job ended without a bus
 * message still ends its hold within a poll period (a re-read of that job only).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildApi, type Api } from '../../src/api/app.js';
import type { Store } from '../../src/store/contract.js';
import type { JobView } from '../../src/jobs/public-job.js';
import { apiDeps, injectTenant } from '../support/api-app.js';
import { invertWorkflow } from '../support/server.js';
import { BACKENDS, type TestDb } from '../store/backends.js';

const ADMIN = { authorization: 'Bearer prefer-wait-poll-admin-0123456789abcdef' };
const POLL_MS = 100;
const HOLDS = 12;
const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe.each(BACKENDS)('Prefer: wait holds on the safety poll on $name', (backend) => {
  let dir: string;
  let db: TestDb;
  let api: Api;
  let url: string;
  let tenant: { accountId: string; key: string };
  /** The store's calls: job view reads by job id, the user each job belongs to, and the ids of each seq read. */
  let viewReads: Map<string, number>;
  let jobOfUser: Map<string, string>;
  let seqReads: Array<readonly string[]>;
  const open: Array<() => void> = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'arrakis-wait-poll-'));
    db = await backend.create();
    viewReads = new Map();
    jobOfUser = new Map();
    seqReads = [];
    const store = db.store;
    const counted = new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === 'getJobViewFor') {
          return (accountId: string, userId: string, jobId: string): Promise<JobView | null> => {
            viewReads.set(jobId, (viewReads.get(jobId) ?? 0) + 1);
            jobOfUser.set(userId, jobId);
            return target.getJobViewFor(accountId, userId, jobId);
          };
        }
        if (prop === 'jobEventSeqs') {
          return (ids: readonly string[]): Promise<Map<string, number>> => {
            seqReads.push([...ids]);
            return target.jobEventSeqs(ids);
          };
        }
        const value: unknown = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    }) satisfies Store;
    api = await buildApi(
      apiDeps(
        dir,
        counted,
        { adminKey: ADMIN.authorization.slice('Bearer '.length) },
        { eventPollMs: POLL_MS },
      ),
    );
    url = await api.app.listen({ host: '127.0.0.1', port: 0 });
    tenant = await injectTenant(api.app, ADMIN);
  });

  afterEach(async () => {
    for (const abort of open.splice(0)) abort();
    await api.app.close();
    await db.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  /** POST /v1/jobs with `Prefer: wait=60` as `userId` (no worker: the job stays queued); resolves once held. */
  async function hold(userId: string): Promise<{
    id: string;
    answer: () => { status: number; body: { status: string } } | undefined;
  }> {
    let answer: { status: number; body: { status: string } } | undefined;
    const body = JSON.stringify({ workflow: invertWorkflow() });
    const req = request(`${url}/v1/jobs`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${tenant.key}`,
        'x-user-id': userId,
        'content-type': 'application/json',
        prefer: 'wait=60',
      },
    });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on(
        'end',
        () => (answer = { status: res.statusCode ?? 0, body: JSON.parse(text) as { status: string } }),
      );
    });
    req.on('error', () => {});
    req.end(body);
    open.push(() => req.destroy());
    // The hold watches its job before its first re-read.
    await within(`the hold of ${userId}`, () => jobOfUser.has(userId) || answer !== undefined);
    if (answer !== undefined) throw new Error(`answered at once: ${JSON.stringify(answer)}`);
    return { id: jobOfUser.get(userId)!, answer: () => answer };
  }

  /** Resolves once the poll has started `n` more seq reads. */
  async function ticks(n: number): Promise<void> {
    const target = seqReads.length + n;
    await within(`${n} polls`, () => seqReads.length >= target, 10_000);
  }

  async function within(what: string, ok: () => boolean, ms = 5_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!ok()) {
      if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
      await pause(10);
    }
  }

  const total = (): number => [...viewReads.values()].reduce((a, b) => a + b, 0);

  it('idle holds cost the poll’s one seq read per period, not a re-read each', async () => {
    const holds = [];
    for (let i = 0; i < HOLDS; i++) holds.push(await hold(`u${i}`));
    await ticks(1);
    const readsBefore = total();
    const seqReadsBefore = seqReads.length;
    await ticks(3);
    // Three periods of 12 idle holds: three seq reads naming all 12 jobs, and no job re-read.
    expect(total()).toBe(readsBefore);
    const polled = seqReads.slice(seqReadsBefore, seqReadsBefore + 3);
    expect(polled).toHaveLength(3);
    for (const ids of polled) expect([...ids].sort()).toEqual(holds.map((h) => h.id).sort());
    expect(holds.every((h) => h.answer() === undefined)).toBe(true);
  });

  it('a job ended without a bus message ends its hold within a poll period; the others are not re-read', async () => {
    const idle = await hold('u1');
    const h = await hold('u2');
    const idleReads = viewReads.get(idle.id);
    // Cancelled through the store: the terminal transition and its `done` event, and no bus message.
    expect((await db.store.requestCancel(tenant.accountId, 'u2', h.id, Date.now())).kind).toBe('cancelled');
    // Twenty periods (before, each hold re-read its job every 5 s on its own).
    await within('the answer', () => h.answer() !== undefined, POLL_MS * 20);
    expect(h.answer()).toEqual({ status: 200, body: expect.objectContaining({ status: 'cancelled' }) });
    await ticks(2);
    expect(viewReads.get(idle.id)).toBe(idleReads);
    expect(idle.answer()).toBeUndefined();
  });
});
