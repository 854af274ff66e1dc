/**
 * Postgres server functions (migration 002, admission and claim replaced by migration 004 for models, the claim by
 * 006 for pool equality, rated admission of migration 007): the hot paths run as one statement each, and leave
 * exactly the rows the transaction path (the same store with the capability off) leaves, and SQLite leaves.
 * docs/store.md ("Server functions") names the statements each function mirrors.
 */
import { readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { KyselyPlugin } from 'kysely';
import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { POSTGRES_CAPABILITIES, type Capabilities } from '../../src/store/capabilities.js';
import type { Store } from '../../src/store/contract.js';
import { compileJobSql } from '../../src/store/job-sql.js';
import { KyselyStore } from '../../src/store/kysely-store.js';
import { openPostgres } from '../../src/store/postgres/open-postgres.js';
import { UnknownAccountError } from '../../src/store/verbs/admission.js';
import { migration006 } from '../../src/store/migrations/006-pool-equality.js';
import { claimAsOf009 } from '../../src/store/migrations/014-claim-ids.js';
import { BACKENDS } from './backends.js';
import { BOUND, claimTimes, withCrowd } from './affinity-scenario.js';
import { createTestDatabase } from '../support/pg.js';
import { jobInput, makeAccount, registerWorker, type ReportedModels } from './fixtures.js';
import type { AccountLimits } from '../../src/jobs/types.js';

interface Opened {
  url: string;
  store: KyselyStore;
  /** Statements the store sent outside BEGIN/COMMIT bookkeeping. */
  statements: () => number;
  cleanup: () => Promise<void>;
}

async function open(caps: Capabilities): Promise<Opened> {
  const db = await createTestDatabase();
  const sql = compileJobSql(caps);
  let count = 0;
  const counting: KyselyPlugin = {
    transformQuery: (args) => args.node,
    transformResult: async (args) => {
      count++;
      return args.result;
    },
  };
  const kysely = openPostgres(db.url, 5, Object.values(sql)).withPlugin(counting);
  const store = new KyselyStore(kysely, caps, sql);
  await store.migrate();
  return {
    url: db.url,
    store,
    statements: () => count,
    cleanup: async () => {
      await store.close();
      await db.drop();
    },
  };
}

const LAST_PROGRESS = { value: 1, max: 1, node: '3', class_type: 'SaveImage', fraction: 1 };

/** A fixed script over every branch the functions take; returns what each verb answered. */
async function script(store: Store, accountId: string): Promise<unknown[]> {
  const out: unknown[] = [];
  const admit = async (id: string, userId: string, extra = {}): Promise<void> => {
    out.push(await store.admitJob(jobInput(accountId, userId, { id, ...extra }), 2_000));
  };
  await admit('job_1', 'u1', { idempotencyKey: 'k', requestHash: 'h1' });
  await admit('job_x', 'u1', { idempotencyKey: 'k', requestHash: 'h1' });
  await admit('job_y', 'u1', { idempotencyKey: 'k', requestHash: 'h2' });
  await admit('job_2', 'u1');
  await admit('job_3', 'u1');
  await admit('job_4', 'u2', { webhookUrl: 'https://example.com/hook' });
  await admit('job_5', 'u3');
  // Fair order: job_1 (u1), job_4 (u2), then job_2 (u1's second).
  for (const w of ['w1', 'w2', 'w3']) out.push(await store.claimNext(w, 'default', 60_000, 3_000));
  // A lost completion records no progress either (migration 013).
  out.push(await store.completeJob('job_1', 'w9', [], 4_000, LAST_PROGRESS));
  out.push(await store.requestCancel(accountId, 'u1', 'job_2', 4_000));
  const output = {
    index: 0,
    nodeId: '9',
    filename: 'a.png',
    contentType: 'image/png',
    size: 3,
    objectKey: 'k',
  };
  const second = { ...output, index: 1, filename: 'b.png', objectKey: 'k2', type: 'temp' as const };
  out.push(await store.completeJob('job_1', 'w1', [output, second], 4_001, LAST_PROGRESS));
  // A progress the job already has (a retried completion's first try recorded it) is not recorded again.
  out.push(await store.updateProgress('job_2', 'w3', LAST_PROGRESS, 4_001));
  out.push(await store.completeJob('job_2', 'w3', [], 4_002, LAST_PROGRESS));
  out.push(await store.failJob('job_4', 'w2', { code: 'execution_error', message: 'boom' }, 4_003));
  await admit('job_6', 'u3');
  const held = await store.claimNext('w4', 'default', 60_000, 5_000);
  out.push(held);
  out.push(await store.claimNext('w5', 'default', 60_000, 5_000));
  // A voluntary release is refunded (migration 012), and the next claim counts one more all the same.
  if (held === null) throw new Error('script: w4 claimed nothing');
  out.push(await store.releaseJob(held.id, 'w4', 1, 'the worker is stopping', 5_001, true));
  out.push(await store.claimNext('w6', 'default', 60_000, 5_002));
  return out;
}

/**
 * Placement and bounded affinity (migration 004): ineligible workers, a fetchable registered file, a worker
 * that never reported, VRAM before disk, the first pass-over time kept, and the bound expiring exactly at it.
 */
async function modelScript(store: Store, accountId: string): Promise<unknown[]> {
  const out: unknown[] = [];
  const admit = async (id: string, model: string | null, at: number, userId = 'U'): Promise<void> => {
    const models = model === null ? [] : [{ kind: 'checkpoint' as const, name: model }];
    out.push(await store.admitJob(jobInput(accountId, userId, { id, models }), at));
  };
  const claim = async (workerId: string, at: number, affinity = 10_000): Promise<void> => {
    const job = await store.claimNext(workerId, 'default', 60_000, at, { affinityMaxDelayMs: affinity });
    out.push(job?.id ?? null);
  };
  const reg = { name: 'reg.ckpt', kind: 'checkpoint' as const, url: 'https://x/r', sha256: 'a'.repeat(64) };
  await store.createModelFile({ ...reg, size: 3 }, 1_500);
  const worker = (id: string, m: Omit<ReportedModels, 'switches'>): Promise<void> =>
    registerWorker(store, id, { ...m, switches: 0 });
  await worker('wv', { available: ['A', 'B', 'C'], warm: ['B'], onDisk: ['C'], canFetch: false });
  await worker('wf', { available: [], warm: [], onDisk: [], canFetch: true });
  await worker('wn', { available: [], warm: [], onDisk: [], canFetch: false });
  for (const [i, m] of ['A', 'C', 'B', 'rare', 'reg.ckpt'].entries()) await admit(`m${i + 1}`, m, 1_000 + i);
  await admit('m6', null, 1_005, 'V');
  await admit('m7', 'B', 1_006);
  await claim('wn', 2_000); // m6: the only job without a file
  await claim('wv', 2_001); // m3 (B in VRAM) over the fair m1 (A loadable): m1 passed at 2 001
  await claim('wf', 2_002); // m5: fetchable from the registry, nothing closer
  await claim('wv', 2_003, 0); // m1: affinity off
  await claim('wv', 2_004); // m7 (B in VRAM) over m2 (C on disk): m2 passed at 2 004
  // m2: a worker that never reported takes any job; nothing closer than the due m4 (m2 counts as handed out
  // at 2 004), so the fairest of all, m2, and m4's clock starts at 2 005 (migration 009).
  await claim('wu', 2_005);
  await admit('m8', 'A', 3_000);
  await admit('m9', 'B', 3_001);
  await claim('wv', 12_004); // m9 over m8: m8 passed at 12 004
  await admit('m10', 'B', 12_100);
  await claim('wv', 22_003); // m10: m8's bound not yet out
  await admit('m11', 'B', 22_100);
  await claim('wv', 22_004); // m8: its bound is out
  await claim('wv', 22_005); // m11
  await claim('wn', 22_006); // nothing it can load (m4 needs an unregistered file)
  await claim('wu', 22_007); // m4: overdue since 12 005
  return out;
}

/**
 * Pools by equality (migration 006): each worker takes only its own pool's jobs, and a row stored without a
 * pool (before the rule; adopted at serve start) is taken by none. `exec` runs raw SQL beside the store.
 */
async function poolScript(
  store: Store,
  accountId: string,
  exec: (sqlText: string) => Promise<void>,
): Promise<Array<string | null>> {
  const admit = (id: string, userId: string, pool: string) =>
    store.admitJob(jobInput(accountId, userId, { id, pool }), 1_000);
  await admit('p1', 'u1', 'default');
  await admit('p2', 'u2', 'gpu');
  await admit('p3', 'u3', 'default');
  await admit('p4', 'u4', 'gpu');
  await admit('p5', 'u5', 'default');
  await exec(`UPDATE jobs SET pool = NULL WHERE id = 'p3'`);
  const out: Array<string | null> = [];
  for (const [worker, pool] of [
    ['g1', 'gpu'],
    ['g2', 'gpu'],
    ['g3', 'gpu'],
    ['d1', 'default'],
    ['d2', 'default'],
    ['d3', 'default'],
  ] as const) {
    out.push((await store.claimNext(worker, pool, 60_000, 2_000))?.id ?? null);
  }
  return out;
}

/**
 * The closer pick by tier (migration 009): nothing in VRAM, so a job on the worker's disk goes before the due
 * one that needs a fetch; then every job left was passed over within the bound, so plain fair order.
 */
async function tiersScript(store: Store, accountId: string): Promise<unknown[]> {
  const out: unknown[] = [];
  await store.createModelFile(
    { name: 'R', kind: 'checkpoint', url: 'https://x/r', sha256: 'a'.repeat(64), size: 3 },
    1,
  );
  await registerWorker(store, 'wx', {
    available: [],
    warm: ['P'],
    onDisk: ['Q'],
    canFetch: true,
    switches: 0,
  });
  for (const [i, m] of ['R', 'Q', 'R'].entries()) {
    const models = [{ kind: 'checkpoint' as const, name: m }];
    out.push(await store.admitJob(jobInput(accountId, `t${i}`, { id: `t${i}`, models }), 1_000 + i));
  }
  const opts = { affinityMaxDelayMs: 10_000 };
  for (const at of [2_000, 2_001, 2_002])
    out.push((await store.claimNext('wx', 'default', 60_000, at, opts))?.id ?? null);
  return out;
}

async function pgExec(url: string, sqlText: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sqlText);
  } finally {
    await client.end();
  }
}

/**
 * Rated admission (migration 007): arrakis_admit_rated over the models-aware arrakis_admit — tokens from two
 * buckets, a job with models, a replay and a conflict (each costing a token), both quota scopes (tokens given
 * back), an empty user bucket and an empty account bucket (nothing taken), and refill.
 */
async function ratedScript(store: Store, accountId: string): Promise<unknown[]> {
  const out: unknown[] = [];
  const account = { key: 'submit:a', ratePerSecond: 1, burst: 5 };
  const admit = async (id: string, userId: string, at: number, extra = {}): Promise<void> => {
    const rate = [{ key: `submit:u:${userId}`, ratePerSecond: 1, burst: 3 }, account];
    out.push(await store.admitJob(jobInput(accountId, userId, { id, rate, ...extra }), at));
  };
  const models = [{ kind: 'checkpoint' as const, name: 'A' }];
  await admit('r01', 'u1', 2_000, { idempotencyKey: 'k', requestHash: 'h1', models });
  await admit('r0x', 'u1', 2_000, { idempotencyKey: 'k', requestHash: 'h1' });
  await admit('r0y', 'u1', 2_000, { idempotencyKey: 'k', requestHash: 'h2' });
  await admit('r0z', 'u1', 2_000); // u1's bucket is empty
  await admit('r02', 'u2', 2_000, { models });
  await admit('r03', 'u2', 2_000); // u2's quota (1 active): its tokens are given back
  await admit('r04', 'u3', 2_000); // the account's last token
  await admit('r05', 'u4', 2_000); // the account bucket is empty
  out.push(await store.claimNext('w1', 'default', 60_000, 2_500));
  out.push(await store.completeJob('r01', 'w1', [], 2_600));
  await admit('r06', 'u4', 3_000); // refilled by one token in a second
  await admit('r07', 'u5', 4_000); // the account's quota (3 active): its tokens are given back
  return out;
}

const TABLES = {
  jobs: 'SELECT * FROM jobs ORDER BY id',
  events: 'SELECT * FROM job_events ORDER BY job_id, seq',
  users: 'SELECT * FROM user_counters ORDER BY user_id',
  accounts: 'SELECT active_jobs FROM accounts',
  deliveries: 'SELECT job_id, url, event_type, payload, status FROM webhook_deliveries ORDER BY job_id',
  workers: 'SELECT id, models_known, models_available, models_warm, models_on_disk FROM workers ORDER BY id',
  buckets: 'SELECT key, tokens, updated_at FROM rate_buckets ORDER BY key',
};

async function dump(url: string): Promise<Record<string, unknown[]>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const out: Record<string, unknown[]> = {};
    for (const [name, text] of Object.entries(TABLES)) out[name] = (await client.query(text)).rows;
    return out;
  } finally {
    await client.end();
  }
}

describe('postgres server functions', () => {
  const opened: Opened[] = [];
  afterEach(async () => {
    for (const o of opened.splice(0)) await o.cleanup();
  });

  /**
   * `drive` on a fresh database through the functions, then on another through the transaction path
   * (`serverFunctions: false`): what it returned plus every table's rows, account ids normalised.
   */
  async function viaBothPaths(
    limits: Partial<AccountLimits>,
    drive: (o: Opened, accountId: string) => Promise<object>,
  ): Promise<[unknown, unknown]> {
    const results: unknown[] = [];
    for (const caps of [POSTGRES_CAPABILITIES, { ...POSTGRES_CAPABILITIES, serverFunctions: false }]) {
      const o = await open(caps);
      opened.push(o);
      const account = await makeAccount(o.store, limits);
      const out = { ...(await drive(o, account.id)), rows: await dump(o.url) };
      results.push(JSON.parse(JSON.stringify(out).replace(/acct_[A-Za-z0-9]+/g, 'ACCOUNT')));
    }
    return [results[0], results[1]];
  }

  it('admission, claim and completion each take one statement', async () => {
    const o = await open(POSTGRES_CAPABILITIES);
    opened.push(o);
    const account = await makeAccount(o.store);
    const before = o.statements();
    const admitted = await o.store.admitJob(jobInput(account.id, 'u1'), 2_000);
    const claimed = await o.store.claimNext('w1', 'default', 60_000, 2_001);
    const done = claimed === null ? null : await o.store.completeJob(claimed.id, 'w1', [], 2_002);
    expect(admitted.kind).toBe('admitted');
    expect(done?.kind).toBe('finished');
    expect(o.statements() - before).toBe(3);
  });

  /** A Postgres store with server functions and one job admitted for u1 and claimed by w1. */
  async function claimedOnPostgres() {
    const o = await open(POSTGRES_CAPABILITIES);
    opened.push(o);
    const account = await makeAccount(o.store);
    await o.store.admitJob(jobInput(account.id, 'u1'), 2_000);
    const claimed = await o.store.claimNext('w1', 'default', 60_000, 2_001);
    if (claimed === null) throw new Error('claimed nothing');
    return { o, claimed };
  }

  it("a claim reads its account's file-node allowlist in its own round trip's statement", async () => {
    const o = await open(POSTGRES_CAPABILITIES);
    opened.push(o);
    const account = await makeAccount(o.store);
    await o.store.updateAccount(account.id, { fileNodeAllowlist: ['LoadImageMask'] });
    await o.store.admitJob(jobInput(account.id, 'u1'), 2_000);
    const sent = vi.spyOn(pg.Client.prototype, 'query');
    const claimed = await o.store.claimJob('w1', 'default', 60_000, 2_001);
    const roundTrips = sent.mock.calls.length;
    sent.mockRestore();
    expect(claimed?.job.status).toBe('running');
    expect(claimed?.fileNodeAllowlist).toEqual(['LoadImageMask']);
    expect(roundTrips).toBe(1);
  });

  it("a completion with the run's last progress is one round trip (migration 013)", async () => {
    const { o, claimed } = await claimedOnPostgres();
    // Every query any pg client sends (BEGIN and COMMIT too), not only the store's statements.
    const sent = vi.spyOn(pg.Client.prototype, 'query');
    const before = o.statements();
    const done = await o.store.completeJob(claimed.id, 'w1', [], 2_002, LAST_PROGRESS);
    const roundTrips = sent.mock.calls.length;
    sent.mockRestore();
    expect(done.kind === 'finished' && done.job.progress).toEqual(LAST_PROGRESS);
    expect(o.statements() - before).toBe(1);
    expect(roundTrips).toBe(1);
    const events = await o.store.listJobEvents(claimed.id, 0);
    expect(events.slice(-2).map((e) => [e.type, e.data])).toEqual([
      ['progress', LAST_PROGRESS],
      ['done', { status: 'completed', error: null, outputs: [] }],
    ]);
  });

  it("the previous release's arrakis_finish_running (010) still completes a job", async () => {
    const { o, claimed } = await claimedOnPostgres();
    const client = new pg.Client({ connectionString: o.url });
    await client.connect();
    try {
      // As the previous release's finishRunningFunction calls it: no progress parameter.
      const done = JSON.stringify({ status: 'completed', error: null, outputs: [] });
      const params = ['completed', '[]', null, 2_002, claimed.id, 'w1', done, []];
      const rows = await client.query(
        'SELECT * FROM arrakis_finish_running($1, $2, $3, $4, $5, $6, $7, $8)',
        params,
      );
      expect(rows.rows).toHaveLength(1);
      const active = await client.query('SELECT CAST(active_jobs AS INTEGER) AS active_jobs FROM accounts');
      expect(active.rows).toEqual([{ active_jobs: 0 }]);
    } finally {
      await client.end();
    }
    expect((await o.store.getJob(claimed.id))?.status).toBe('completed');
    expect((await o.store.listJobEvents(claimed.id, 0)).at(-1)?.type).toBe('done');
  });

  it('a rated admission takes one statement too', async () => {
    const o = await open(POSTGRES_CAPABILITIES);
    opened.push(o);
    const account = await makeAccount(o.store);
    const rate = [
      { key: 'submit:u', ratePerSecond: 1, burst: 1 },
      { key: 'submit:a', ratePerSecond: 1, burst: 1 },
    ];
    const before = o.statements();
    expect((await o.store.admitJob(jobInput(account.id, 'u1', { rate }), 2_000)).kind).toBe('admitted');
    expect(o.statements() - before).toBe(1);
  });

  it('leave exactly the rows and answers of the transaction path', async () => {
    const [viaFunctions, viaTransactions] = await viaBothPaths(
      { max_active_jobs: 3, max_active_jobs_per_user: 2 },
      async (o, accountId) => ({ answers: await script(o.store, accountId) }),
    );
    expect(viaFunctions).toEqual(viaTransactions);
    // The script reached every branch: replay, conflict, both quota scopes, lost, cancelled, failed.
    const kinds = JSON.stringify(viaFunctions);
    for (const k of ['replayed', 'idempotency_conflict', '"scope":"user"', '"scope":"account"', 'lost']) {
      expect(kinds).toContain(k);
    }
    expect(kinds).toContain('"status":"cancelled","priority"');
    expect(kinds).toContain('"status":"failed","priority"');
    expect(kinds).toContain('"event_type":"job.failed"');
    // The claim after the voluntary release runs as attempt 2 (never the released run's number again).
    expect((viaFunctions as { answers: unknown[] }).answers.at(-1)).toMatchObject({ attempts: 2 });
  });

  it('claim with placement and bounded affinity leaves exactly the rows of the transaction path', async () => {
    const [viaFunctions, viaTransactions] = await viaBothPaths(
      { max_active_jobs: 50, max_active_jobs_per_user: 50 },
      async (o, accountId) => ({ answers: await modelScript(o.store, accountId) }),
    );
    expect(viaFunctions).toEqual(viaTransactions);
    // The claims the script expects, so a mistake made the same way on both paths shows too.
    const claims = (viaFunctions as { answers: unknown[] }).answers.filter(
      (a) => a === null || typeof a === 'string',
    );
    expect(claims).toEqual(['m6', 'm3', 'm5', 'm1', 'm7', 'm2', 'm9', 'm10', 'm8', 'm11', null, 'm4']);
    const passed = (
      viaFunctions as { rows: { jobs: { id: string; affinity_passed_at: string | null }[] } }
    ).rows.jobs
      .filter((j) => j.affinity_passed_at !== null)
      .map((j) => [j.id, Number(j.affinity_passed_at)]);
    expect(passed).toEqual([
      ['m1', 2_001],
      ['m2', 2_004],
      ['m4', 2_005],
      ['m8', 12_004],
    ]);
  });

  it('claim with the bound for every job (migration 009) leaves exactly the rows of the transaction path', async () => {
    const results = await viaBothPaths(
      { max_active_jobs: 50, max_active_jobs_per_user: 50 },
      async (o, accountId) => ({
        tiers: await tiersScript(o.store, accountId),
        // Overdue first, and a second passed-over job's own clock (see affinity-bound.test.ts).
        times: await claimTimes(
          o.store,
          withCrowd([
            ['C', 'Z'],
            ['C', 'M1'],
            ['D', 'Z'],
          ]),
          BOUND,
        ),
      }),
    );
    expect(results[0]).toEqual(results[1]);
    const { tiers, times } = results[0] as { tiers: unknown[]; times: number[] };
    // t1 (Q on disk) before the due t0 (R to fetch); then t0 and t2, both passed over, in fair order.
    expect(tiers.slice(3)).toEqual(['t1', 't0', 't2']);
    expect(times.slice(0, 3)).toEqual([2_000 + BOUND, 2_000, 3_000 + BOUND]);
  });

  it("names the claim (migration 014): 009's claim under a new name, one parameter more, written by the lease", () => {
    const claim = claimAsOf009();
    expect(claim).toContain('CREATE FUNCTION arrakis_claim_as(');
    expect(claim).toContain('p_affinity_ms BIGINT, p_claim_id TEXT)');
    expect(claim).toContain('started_at = p_started_at, claim_id = p_claim_id,');
  });

  it('claim by pool equality (migration 006) matches the transaction path and SQLite', async () => {
    // 006 is 004's claim with only the pool predicate changed, in all three places it appears.
    const claim = migration006.postgres[1] ?? '';
    expect(claim).not.toContain('pool IS NULL');
    expect(claim.split('j.pool = p_pool').length - 1).toBe(3);
    const results = await viaBothPaths(
      { max_active_jobs: 50, max_active_jobs_per_user: 50 },
      async (o, accountId) => ({
        answers: await poolScript(o.store, accountId, (text) => pgExec(o.url, text)),
      }),
    );
    expect(results[0]).toEqual(results[1]);
    const lite = await BACKENDS.find((b) => b.name === 'sqlite')!.create();
    try {
      const account = await makeAccount(lite.store, { max_active_jobs: 50, max_active_jobs_per_user: 50 });
      const answers = await poolScript(lite.store, account.id, (text) => lite.exec(text));
      expect(answers).toEqual((results[0] as { answers: unknown[] }).answers);
    } finally {
      await lite.cleanup();
    }
    // p3 (stored without a pool) goes to nobody, not to the first worker to ask.
    expect((results[0] as { answers: unknown[] }).answers).toEqual(['p2', 'p4', null, 'p1', 'p5', null]);
  });

  it('rated admission leaves exactly the rows and answers of the transaction path', async () => {
    const [viaFunctions, viaTransactions] = await viaBothPaths(
      { max_active_jobs: 3, max_active_jobs_per_user: 1 },
      async (o, accountId) => ({ answers: await ratedScript(o.store, accountId) }),
    );
    expect(viaFunctions).toEqual(viaTransactions);
    const answers = (viaFunctions as { answers: { kind?: string; scope?: string; id?: string }[] }).answers;
    expect(answers.map((a) => a.scope ?? a.kind ?? a.id)).toEqual([
      'admitted',
      'replayed',
      'idempotency_conflict',
      'rate_limited',
      'admitted',
      'user',
      'admitted',
      'rate_limited',
      'r01',
      'finished',
      'admitted',
      'account',
    ]);
    const jobs = (viaFunctions as { rows: { jobs: { id: string; models: string }[] } }).rows.jobs;
    expect(jobs.find((j) => j.id === 'r02')?.models).toBe('[{"kind":"checkpoint","name":"A"}]');
  });

  it('an unknown account is a caller error, not a quota decision', async () => {
    const o = await open(POSTGRES_CAPABILITIES);
    opened.push(o);
    await expect(o.store.admitJob(jobInput('acct_missing', 'u1'), 2_000)).rejects.toBeInstanceOf(
      UnknownAccountError,
    );
  });
});

/** BIGINT comes back from pg as text, from SQLite as a number: compare numbers. */
function numbersAsNumbers(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value), (_k, v: unknown) =>
    typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v,
  );
}

function dumpSqlite(url: string): Record<string, unknown[]> {
  const raw = new Database(url.slice('sqlite:'.length), { readonly: true });
  try {
    const out: Record<string, unknown[]> = {};
    for (const [name, text] of Object.entries(TABLES)) out[name] = raw.prepare(text).all();
    return out;
  } finally {
    raw.close();
  }
}

/**
 * Each server function, the scripts that drive it, and the account limits they need. docs/store.md ("Server
 * functions") names the transaction-path statements each one mirrors; the tests above compare each script
 * through the functions with the Postgres transaction path, these with SQLite.
 */
const PARITY: ReadonlyArray<{
  name: string;
  functions: readonly string[];
  limits: Partial<AccountLimits>;
  run: (store: Store, accountId: string, exec: (sqlText: string) => Promise<void>) => Promise<unknown[]>;
}> = [
  {
    name: 'admission, claim and completion',
    functions: ['arrakis_admit', 'arrakis_claim_as', 'arrakis_finish_running_progress'],
    limits: { max_active_jobs: 3, max_active_jobs_per_user: 2 },
    run: (store, accountId) => script(store, accountId),
  },
  {
    name: 'placement and bounded affinity',
    functions: ['arrakis_claim_as', 'arrakis_fair_pick', 'arrakis_closer_pick', 'arrakis_job_base_model'],
    limits: { max_active_jobs: 50, max_active_jobs_per_user: 50 },
    run: (store, accountId) => modelScript(store, accountId),
  },
  {
    name: 'the bound for every job and the tiers',
    functions: ['arrakis_claim_as', 'arrakis_fair_pick', 'arrakis_closer_pick'],
    limits: { max_active_jobs: 50, max_active_jobs_per_user: 50 },
    run: (store, accountId) => tiersScript(store, accountId),
  },
  {
    name: 'pool equality',
    functions: ['arrakis_claim_as'],
    limits: { max_active_jobs: 50, max_active_jobs_per_user: 50 },
    run: poolScript,
  },
  {
    name: 'rated admission',
    functions: ['arrakis_admit_rated', 'arrakis_admit'],
    limits: { max_active_jobs: 3, max_active_jobs_per_user: 1 },
    run: (store, accountId) => ratedScript(store, accountId),
  },
];

/**
 * Functions this release no longer calls, kept so that replicas of the previous release running beside it
 * during a rolling upgrade still can (docs/operations.md): a test below calls each as that release does.
 */
const KEPT = ['arrakis_finish_running', 'arrakis_claim'];

describe('postgres server functions and SQLite', () => {
  it.each(PARITY)('$name: SQLite leaves the rows and answers of the functions', async (p) => {
    const results = [];
    const fast = await open(POSTGRES_CAPABILITIES);
    try {
      const account = await makeAccount(fast.store, p.limits);
      const answers = await p.run(fast.store, account.id, (text) => pgExec(fast.url, text));
      const rows = await dump(fast.url);
      results.push(
        numbersAsNumbers(JSON.parse(JSON.stringify({ answers, rows }).replaceAll(account.id, 'A'))),
      );
    } finally {
      await fast.cleanup();
    }
    const lite = await BACKENDS.find((b) => b.name === 'sqlite')!.create();
    try {
      const account = await makeAccount(lite.store, p.limits);
      const answers = await p.run(lite.store, account.id, (text) => lite.exec(text));
      const rows = dumpSqlite(lite.url);
      results.push(
        numbersAsNumbers(JSON.parse(JSON.stringify({ answers, rows }).replaceAll(account.id, 'A'))),
      );
    } finally {
      await lite.cleanup();
    }
    expect(results[1]).toEqual(results[0]);
  });

  it('every server function has a parity script and a row in the docs/store.md table', async () => {
    const o = await open(POSTGRES_CAPABILITIES);
    try {
      const client = new pg.Client({ connectionString: o.url });
      await client.connect();
      const names = (
        await client.query<{ proname: string }>(
          `SELECT DISTINCT proname FROM pg_proc WHERE proname LIKE 'arrakis\\_%' ORDER BY proname`,
        )
      ).rows.map((r) => r.proname);
      await client.end();
      expect(names.length).toBeGreaterThan(0);
      expect([...new Set([...PARITY.flatMap((p) => p.functions), ...KEPT])].sort()).toEqual(names);
      const doc = readFileSync(new URL('../../docs/store.md', import.meta.url), 'utf8');
      for (const name of names) expect(doc).toMatch(new RegExp(`^\\| \`${name}\` +\\|`, 'm'));
    } finally {
      await o.cleanup();
    }
  });
});
