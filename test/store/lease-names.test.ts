/**
 * Migration 008: one naming rule for lease columns (`…lease_owner` + `…lease_expires_at`; the job's run lease
 * keeps `worker_id`). A database at 007 keeps its leases across the rename, the verbs write the new columns,
 * and no Postgres server function still names an old column (PL/pgSQL resolves names only when it runs).
 */
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../../src/store/migrations/index.js';
import { BACKENDS, type Backend, type TestDb } from './backends.js';
import { jobInput, makeAccount } from './fixtures.js';

const OLD_NAMES = ['fetch_owner', 'fetch_lease_until', 'lease_until'];

/** Runs statements in one transaction beside the store and returns the last one's rows. */
async function query(
  backend: Backend['name'],
  url: string,
  texts: string[],
): Promise<Record<string, unknown>[]> {
  if (backend === 'sqlite') {
    const raw = new Database(url.slice('sqlite:'.length));
    try {
      let rows: Record<string, unknown>[] = [];
      raw.transaction(() => {
        for (const t of texts) {
          const st = raw.prepare(t);
          rows = st.reader ? (st.all() as Record<string, unknown>[]) : (st.run(), []);
        }
      })();
      return rows;
    } finally {
      raw.close();
    }
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('BEGIN');
    let rows: Record<string, unknown>[] = [];
    for (const t of texts) rows = (await client.query(t)).rows as Record<string, unknown>[];
    await client.query('COMMIT');
    return rows;
  } finally {
    await client.end();
  }
}

/** Every migration before 008, applied by hand as the release before it would have. */
function upTo007(backend: Backend['name']): string[] {
  const out = [
    'CREATE TABLE arrakis_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)',
  ];
  for (const m of MIGRATIONS.filter((x) => x.id < 8)) {
    out.push(...(backend === 'sqlite' ? m.sqlite : m.postgres));
    out.push(`INSERT INTO arrakis_migrations (id, name, applied_at) VALUES (${m.id}, '${m.name}', 1)`);
  }
  return out;
}

describe.each(BACKENDS)('lease column names on $name', (backend) => {
  let db: TestDb | undefined;
  afterEach(async () => {
    await db?.cleanup();
    db = undefined;
  });

  it('a database at 007 keeps its fetch and delivery leases across the rename', async () => {
    db = await backend.create({ migrate: false });
    await query(backend.name, db.url, [
      ...upTo007(backend.name),
      `INSERT INTO accounts (id, name, max_active_jobs_per_user, max_active_jobs, submit_rate_per_user,
        submit_burst_per_user, webhook_secret, created_at) VALUES ('a1', 'acme', 5, 5, 1, 1, 's', 1)`,
      `INSERT INTO jobs (id, account_id, user_id, status, created_at, workflow, inputs, inputs_ready, metadata,
        outputs, pool, fetch_owner, fetch_lease_until) VALUES ('j1', 'a1', 'u1', 'queued', 1, '{}', '[]', 0, '{}',
        '[]', 'default', 'fetcher-1', 5000)`,
      `INSERT INTO webhook_deliveries (id, account_id, job_id, url, event_type, payload, status, next_attempt_at,
        created_at, lease_owner, lease_until) VALUES ('d1', 'a1', 'j1', 'https://x', 'job.failed', '{}',
        'pending', 1, 1, 'deliverer-1', 6000)`,
    ]);
    expect((await db.store.migrate())[0]).toBe('008-lease-names');
    const job = await query(backend.name, db.url, [
      'SELECT fetch_lease_owner, fetch_lease_expires_at FROM jobs',
    ]);
    expect(job.map((r) => [r.fetch_lease_owner, Number(r.fetch_lease_expires_at)])).toEqual([
      ['fetcher-1', 5000],
    ]);
    const delivery = await query(backend.name, db.url, [
      'SELECT lease_owner, lease_expires_at FROM webhook_deliveries',
    ]);
    expect(delivery.map((r) => [r.lease_owner, Number(r.lease_expires_at)])).toEqual([['deliverer-1', 6000]]);
    // The lease still holds under its new name: another fetcher finds nothing before it runs out.
    expect(await db.store.claimInputFetches('fetcher-2', 10, 1_000, 4_000)).toEqual([]);
    expect((await db.store.claimInputFetches('fetcher-2', 10, 1_000, 5_001)).map((j) => j.id)).toEqual([
      'j1',
    ]);
    expect(await db.store.claimDueWebhooks('deliverer-2', 10, 1_000, 5_999)).toEqual([]);
    expect((await db.store.claimDueWebhooks('deliverer-2', 10, 1_000, 6_001)).map((d) => d.id)).toEqual([
      'd1',
    ]);
  });

  it('the fetch and delivery verbs write the new columns', async () => {
    db = await backend.create();
    const account = await makeAccount(db.store);
    const url = 'https://example.com/hook';
    const r = await db.store.admitJob(
      jobInput(account.id, 'u1', { inputsReady: false, webhookUrl: url }),
      1_000,
    );
    if (r.kind !== 'admitted') throw new Error('not admitted');
    await db.store.claimInputFetches('fetcher-1', 10, 500, 2_000);
    const leased = await query(backend.name, db.url, [
      'SELECT fetch_lease_owner, fetch_lease_expires_at FROM jobs',
    ]);
    expect(leased.map((x) => [x.fetch_lease_owner, Number(x.fetch_lease_expires_at)])).toEqual([
      ['fetcher-1', 2_500],
    ]);
    await db.store.failQueuedJob(r.job.id, { code: 'input_fetch_failed', message: 'gone' }, 2_100);
    const failed = await query(backend.name, db.url, ['SELECT status, fetch_lease_owner FROM jobs']);
    expect(failed).toEqual([{ status: 'failed', fetch_lease_owner: null }]);
    const [delivery] = await db.store.claimDueWebhooks('deliverer-1', 10, 700, 3_000);
    const row = await query(backend.name, db.url, [
      'SELECT lease_owner, lease_expires_at FROM webhook_deliveries',
    ]);
    expect(row.map((x) => [x.lease_owner, Number(x.lease_expires_at)])).toEqual([['deliverer-1', 3_700]]);
    await db.store.recordWebhookAttempt(
      { deliveryId: delivery!.id, attempt: 1, at: 3_100, statusCode: 200, error: null, durationMs: 5 },
      { status: 'delivered' },
    );
    const done = await query(backend.name, db.url, [
      'SELECT lease_owner, lease_expires_at FROM webhook_deliveries',
    ]);
    expect(done).toEqual([{ lease_owner: null, lease_expires_at: null }]);
  });

  if (backend.name === 'postgres')
    it('no server function names an old lease column', async () => {
      db = await backend.create();
      const bodies = await query(backend.name, db.url, [
        `SELECT proname, prosrc FROM pg_proc WHERE proname LIKE 'arrakis_%' ORDER BY proname`,
      ]);
      expect(bodies.map((b) => b.proname)).toEqual([
        'arrakis_admit',
        'arrakis_admit_rated',
        'arrakis_claim',
        'arrakis_claim_as',
        'arrakis_closer_pick',
        'arrakis_fair_pick',
        'arrakis_finish_running',
        'arrakis_finish_running_progress',
        'arrakis_job_base_model',
      ]);
      for (const b of bodies) {
        for (const old of OLD_NAMES) expect(String(b.prosrc)).not.toMatch(new RegExp(`\\b${old}\\b`));
      }
    });
});
