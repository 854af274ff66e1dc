/**
 * How migrations run: one transaction per migration, so a failure keeps the earlier ones and names the one that
 * failed (both backends); on Postgres a `lock_timeout` per migration, so an ALTER TABLE jobs queued behind a
 * long query gives up and retries instead of queueing every replica's reads of jobs behind it, and runners
 * started together apply each migration once, under one session lock, each in its own commit.
 */
import Database from 'better-sqlite3';
import pg from 'pg';
import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { register as registerMigrate } from '../../src/cli/migrate.js';
import { z } from 'zod';
import type { Store } from '../../src/store/contract.js';
import type { MigrationRetry } from '../../src/store/migrator.js';
import { MIGRATIONS } from '../../src/store/migrations/index.js';
import { openStore } from '../../src/store/open.js';
import { BACKENDS, type Backend, type TestDb } from './backends.js';

const postgres = BACKENDS.filter((b) => b.name === 'postgres');

/** Short, so an attempt gives up quickly; the default is 5 s. */
const LOCK_TIMEOUT_MS = 300;

/** Far longer than an attempt's wait: a query still blocked after this is queued behind the migration. */
const BLOCKED_MS = 10_000;

const ALL = MIGRATIONS.map((m) => `${String(m.id).padStart(3, '0')}-${m.name}`);

/** Back to what the release before 012 left: 012's column and row removed. */
const UNDO_012 =
  'ALTER TABLE jobs DROP COLUMN refunded_attempts; DELETE FROM arrakis_migrations WHERE id = 12';

/** 012's statement, as pg_stat_activity shows it while it runs. */
const ALTER_012 = 'ALTER TABLE jobs ADD COLUMN refunded_attempts%';

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return client;
}

/** The ids in arrakis_migrations, in order, read beside the store. */
async function appliedIds(backend: Backend['name'], url: string): Promise<number[]> {
  const idsSchema = z.array(z.object({ id: z.number() }));
  if (backend === 'sqlite') {
    const raw = new Database(url.slice('sqlite:'.length));
    try {
      return idsSchema
        .parse(raw.prepare('SELECT id FROM arrakis_migrations ORDER BY id').all())
        .map((r) => r.id);
    } finally {
      raw.close();
    }
  }
  const client = await connect(url);
  try {
    const { rows } = await client.query('SELECT id FROM arrakis_migrations ORDER BY id');
    return idsSchema.parse(rows).map((r) => r.id);
  } finally {
    await client.end();
  }
}

/**
 * Waits until 012's ALTER has been seen waiting on a lock in `n` separate attempts (distinct statement start
 * times in pg_stat_activity); throws when that has not happened within BLOCKED_MS.
 */
async function lockWaitsSeen(watcher: pg.Client, n: number, seen = new Set<string>()): Promise<Set<string>> {
  const deadline = Date.now() + BLOCKED_MS;
  while (seen.size < n) {
    if (Date.now() > deadline) throw new Error(`saw ${seen.size} lock waits of 012's ALTER, expected ${n}`);
    const { rows } = await watcher.query(
      `SELECT CAST(query_start AS text) AS started FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE $1`,
      [ALTER_012],
    );
    for (const r of z.array(z.object({ started: z.string() })).parse(rows)) seen.add(r.started);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return seen;
}

/** `work`'s result, or 'still blocked' when it has not settled within BLOCKED_MS. */
async function unlessBlocked<T>(work: Promise<T>): Promise<T | 'still blocked'> {
  let timer: NodeJS.Timeout | undefined;
  const blocked = new Promise<'still blocked'>((resolve) => {
    timer = setTimeout(() => resolve('still blocked'), BLOCKED_MS);
  });
  try {
    return await Promise.race([work, blocked]);
  } finally {
    clearTimeout(timer);
  }
}

async function refundColumnExists(client: pg.Client): Promise<boolean> {
  const { rows } = await client.query(
    `SELECT 1 FROM information_schema.columns WHERE table_name = 'jobs' AND column_name = 'refunded_attempts'`,
  );
  return rows.length > 0;
}

describe.each(BACKENDS)('a migration that fails on $name', (backend) => {
  let db: TestDb;
  beforeEach(async () => {
    db = await backend.create({ migrate: false });
  });
  afterEach(async () => {
    await db.cleanup();
  });

  it('leaves the migrations before it applied and names itself; migrating again resumes there', async () => {
    // A table 011 creates already exists: 011's CREATE TABLE fails after 001–010 ran.
    await db.exec('CREATE TABLE worker_prefetch_refused (x INTEGER)');
    const failed = await db.store.migrate().then(
      () => null,
      (err: unknown) => err,
    );
    expect(failed).toBeInstanceOf(Error);
    expect(failed).toMatchObject({ code: 'migration_failed', migration: '011-prefetch-refused' });
    expect(String((failed as Error).message)).toContain('migration 011-prefetch-refused failed');
    expect(await appliedIds(backend.name, db.url)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(await db.store.isReady()).toBe(false);

    await db.exec('DROP TABLE worker_prefetch_refused');
    // 011 and every migration after it.
    expect(await db.store.migrate()).toEqual(ALL.slice(ALL.indexOf('011-prefetch-refused')));
    expect(await db.store.isReady()).toBe(true);
  });
});

describe.each(postgres)('migrating $name while a long query holds a lock on jobs', (backend) => {
  let db: TestDb;
  let holder: pg.Client;
  let holderPid: number | undefined;
  let watcher: pg.Client;
  const stores: Store[] = [];
  /** A store whose migrations give up on a lock after LOCK_TIMEOUT_MS. */
  const open = async (): Promise<Store> => {
    const store = await openStore(db.url, { poolSize: 2, migrationLockTimeoutMs: LOCK_TIMEOUT_MS });
    stores.push(store);
    return store;
  };
  beforeEach(async () => {
    db = await backend.create();
    await db.exec(UNDO_012);
    holder = await connect(db.url);
    watcher = await connect(db.url);
    const pid = await holder.query('SELECT pg_backend_pid() AS pid');
    holderPid = z.array(z.object({ pid: z.number() })).parse(pid.rows)[0]?.pid;
    // A long transaction that read jobs: its ACCESS SHARE lock conflicts with ALTER TABLE's ACCESS EXCLUSIVE.
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE jobs IN ACCESS SHARE MODE');
  });
  afterEach(async () => {
    await holder.end().catch(() => {});
    await watcher.end();
    for (const s of stores.splice(0)) await s.close();
    await db.cleanup();
  });

  it("gives up on the lock and retries, so other sessions' queries on jobs are not queued behind it", async () => {
    const store = await open();
    const migrating = store.migrate();
    migrating.catch(() => {});
    const seen = await lockWaitsSeen(watcher, 1);

    // Another replica's read of jobs, queued behind the waiting ALTER: it runs once that attempt gives up.
    const reader = await connect(db.url);
    try {
      const read = reader.query('SELECT count(*) AS n FROM jobs').then(() => 'read' as const);
      expect(await unlessBlocked(read)).toBe('read');
    } finally {
      await reader.end();
    }
    await lockWaitsSeen(watcher, 2, seen);
    expect(await refundColumnExists(watcher)).toBe(false);

    // The long transaction ends: the next attempt gets the lock and the migration finishes.
    await holder.query('COMMIT');
    expect(await migrating).toEqual(['012-attempt-refunds']);
    expect(await refundColumnExists(watcher)).toBe(true);
    expect(await store.isReady()).toBe(true);
  });

  /** Resolves once `seen()` holds at least `n` items; throws when that has not happened within BLOCKED_MS. */
  async function heard<T>(seen: () => readonly T[], n: number): Promise<readonly T[]> {
    const deadline = Date.now() + BLOCKED_MS;
    while (seen().length < n) {
      if (Date.now() > deadline) throw new Error(`heard ${seen().length} retries, expected ${n}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return seen();
  }

  it('tells its caller of every retry: the migration, the attempt, the table and who holds it', async () => {
    const retries: MigrationRetry[] = [];
    const store = await openStore(db.url, {
      poolSize: 2,
      migrationLockTimeoutMs: LOCK_TIMEOUT_MS,
      onMigrationRetry: (retry) => retries.push(retry),
    });
    stores.push(store);
    const migrating = store.migrate();
    migrating.catch(() => {});
    await heard(() => retries, 2);
    expect(retries[0]).toEqual({
      migration: '012-attempt-refunds',
      attempt: 1,
      attempts: 5,
      table: 'jobs',
      holders: [expect.objectContaining({ pid: holderPid, mode: 'AccessShareLock' })],
      retryInMs: LOCK_TIMEOUT_MS / 5,
    });
    expect(retries[1]).toMatchObject({ migration: '012-attempt-refunds', attempt: 2, retryInMs: 120 });
    await holder.query('COMMIT');
    expect(await migrating).toEqual(['012-attempt-refunds']);
    expect(retries.every((r, i) => r.attempt === i + 1)).toBe(true);
  });

  it('`arrakis migrate` prints each retry to stderr while it waits', async () => {
    // The CLI's lock timeout is the default 5 s: its first retry is announced after one attempt gave up.
    const lines: string[] = [];
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      const program = new Command().exitOverride();
      registerMigrate(program);
      const run = program.parseAsync(['node', 'arrakis', 'migrate', '--db', db.url]);
      run.catch(() => {});
      await heard(() => lines, 1);
      await holder.query('COMMIT');
      await run;
    } finally {
      stderr.mockRestore();
      stdout.mockRestore();
    }
    expect(lines[0]).toMatch(
      /^warning: migration 012-attempt-refunds could not get its lock on table "jobs" \(attempt 1 of 5\); retrying in 1000 ms; held by pid \d+ \(AccessShareLock, idle in transaction/,
    );
  });

  it('fails after its last attempt naming the migration, the table and the session holding the lock', async () => {
    const store = await open();
    const failed = await unlessBlocked(
      store.migrate().then(
        () => null,
        (err: unknown) => err,
      ),
    );
    expect(failed).toMatchObject({
      code: 'migration_lock_timeout',
      migration: '012-attempt-refunds',
      table: 'jobs',
    });
    const message = String((failed as Error).message);
    expect(message).toContain('migration 012-attempt-refunds could not get its lock on table "jobs"');
    expect(message).toContain('a long-running query or open transaction holds a conflicting lock');
    expect(message).toContain(`pid ${holderPid} (AccessShareLock, idle in transaction`);
    expect(message).toContain('last statement: LOCK TABLE jobs IN ACCESS SHARE MODE');
    // Every migration but 012 (those after it were applied before 012 was undone).
    expect(await appliedIds(backend.name, db.url)).toEqual(
      MIGRATIONS.map((m) => m.id).filter((id) => id !== 12),
    );
    expect(await refundColumnExists(watcher)).toBe(false);
  });

  it('two runners at once apply 012 once: the second waits for the whole run of the first', async () => {
    const [a, b] = [await open(), await open()];
    const first = a.migrate();
    first.catch(() => {});
    const seen = await lockWaitsSeen(watcher, 1);
    const second = b.migrate();
    second.catch(() => {});
    // The first runner gives up its attempt and waits between attempts; the second must not slip in then.
    await lockWaitsSeen(watcher, 3, seen);
    await holder.query('COMMIT');
    const results = await Promise.all([first, second]);
    expect(results).toEqual([['012-attempt-refunds'], []]);
    expect(await appliedIds(backend.name, db.url)).toEqual(MIGRATIONS.map((m) => m.id));
  });
});

describe.each(postgres)('runners migrating a fresh $name database at once', (backend) => {
  let db: TestDb;
  beforeEach(async () => {
    db = await backend.create({ migrate: false });
  });
  afterEach(async () => {
    await db.cleanup();
  });

  it('waits for the runner holding the migration lock even where the database sets a short lock_timeout', async () => {
    const client = await connect(db.url);
    const holder = await connect(db.url);
    const store = await openStore(db.url, { poolSize: 1 });
    try {
      // A DBA's default for every session of this database; the migration lock is waited for regardless.
      const name = z
        .array(z.object({ db: z.string() }))
        .parse((await client.query('SELECT current_database() AS db')).rows)[0]!.db;
      await client.query(`ALTER DATABASE "${name}" SET lock_timeout = '100ms'`);
      await holder.query('SELECT pg_advisory_lock(7246010420)');
      const migrating = store.migrate();
      await new Promise((resolve) => setTimeout(resolve, 500));
      await holder.query('SELECT pg_advisory_unlock(7246010420)');
      expect(await migrating).toEqual(ALL);
    } finally {
      await store.close();
      await holder.end();
      await client.end();
    }
  });

  it('apply each migration once, all by one runner, each in a commit of its own with its record', async () => {
    const stores = [await openStore(db.url, { poolSize: 1 }), await openStore(db.url, { poolSize: 1 })];
    try {
      const results = await Promise.all(stores.map((s) => s.migrate()));
      // One runner held the session lock for its whole run; the other then found nothing pending.
      expect([...results].sort((x, y) => y.length - x.length)).toEqual([ALL, []]);
    } finally {
      for (const s of stores) await s.close();
    }
    const client = await connect(db.url);
    try {
      // xmin is the transaction that wrote the row: one per migration, and the same one as its own SQL's.
      const { rows } = await client.query(
        'SELECT id, CAST(xmin AS text) AS tx FROM arrakis_migrations ORDER BY id',
      );
      const records = z.array(z.object({ id: z.number(), tx: z.string() })).parse(rows);
      expect(records.map((r) => r.id)).toEqual(MIGRATIONS.map((m) => m.id));
      expect(new Set(records.map((r) => r.tx)).size).toBe(MIGRATIONS.length);
      const created = await client.query(
        `SELECT CAST(xmin AS text) AS tx FROM pg_class WHERE oid = to_regclass('worker_prefetch_refused')`,
      );
      expect(z.array(z.object({ tx: z.string() })).parse(created.rows)).toEqual([
        { tx: records.find((r) => r.id === 11)?.tx },
      ]);
    } finally {
      await client.end();
    }
  });
});
