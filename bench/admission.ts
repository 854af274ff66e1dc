/**
 * Admission and claim→complete throughput of the real store on SQLite and Postgres, beside a bare
 * better-sqlite3 reference doing the same conditional-increment admission and claim/complete; then claim→complete
 * cycles with a last progress reported on its own before the completion, or inside it.
 * Run: node --import tsx bench/admission.ts [--jobs N] [--only sqlite|postgres] [--accounts N]   (starts its own embedded Postgres unless
 * ARRAKIS_TEST_PG names one). Prints one line per measurement.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DEFAULT_LIMITS } from '../src/jobs/types.js';
import type { NewJob, Store } from '../src/store/contract.js';
import { openStore } from '../src/store/open.js';
import { jobInput } from '../test/store/fixtures.js';
import { startPostgres } from '../test/support/postgres-server.js';
import { runBarePgReference } from './bare-pg-reference.js';
import { runBareReference } from './bare-sqlite-reference.js';
import { argValue, freshPgDatabase } from './bench-args.js';

const USERS = 500;
const CLIENTS = 16;
/** Accounts the jobs are spread over (default 1: one SaaS account, so every admission shares its counter row). */
const accountCount = Math.max(1, Number(argValue('--accounts') ?? 1) || 1);

function jobsArg(): number {
  const n = Number(argValue('--jobs') ?? 20_000);
  return Number.isInteger(n) && n > 0 ? n : 20_000;
}

/** A small admissible job for user `i % USERS` (the store tests' builder, with a 64×64 image). */
function job(accountId: string, i: number): NewJob {
  return jobInput(accountId, `u${i % USERS}`, {
    workflow: { '1': { class_type: 'EmptyImage', inputs: { width: 64, height: 64 } } },
  });
}

function report(label: string, n: number, ms: number): void {
  process.stdout.write(
    `${label.padEnd(46)} ${String(Math.round((n * 1000) / ms)).padStart(7)} /s  (${n} in ${Math.round(ms)} ms)\n`,
  );
}

/** `clients` loops share `n` operations; returns elapsed ms (and prints this process's CPU share). */
async function drive(n: number, clients: number, op: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const started = performance.now();
  const cpu = process.cpuUsage();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < n) await op(next++);
    }),
  );
  const elapsed = performance.now() - started;
  const used = process.cpuUsage(cpu);
  // On a shared machine the client's own CPU is part of the cost: printed so a run can be read.
  process.stdout.write(
    `  (bench process CPU ${Math.round((used.user + used.system) / 1000)} ms of ${Math.round(elapsed)} ms)\n`,
  );
  return elapsed;
}

async function benchStore(label: string, store: Store, n: number, clients: number): Promise<void> {
  await store.migrate();
  const limits = { ...DEFAULT_LIMITS, max_active_jobs: 10_000_000, max_active_jobs_per_user: 10_000_000 };
  const accounts: string[] = [];
  for (let a = 0; a < accountCount; a++) {
    const account = await store.createAccount(
      {
        name: `bench${a}`,
        limits,
        jwt: null,
        nodeAllowlist: null,
        allowedPools: null,
        webhookSecret: 'whsec_x',
      },
      Date.now(),
    );
    accounts.push(account.id);
  }
  const admitMs = await drive(n, clients, async (i) => {
    const r = await store.admitJob(job(accounts[i % accountCount] ?? '', i), Date.now());
    if (r.kind !== 'admitted') throw new Error(`bench admission rejected: ${r.kind}`);
  });
  report(`${label}: admissions`, n, admitMs);
  const cycleMs = await drive(n, clients, async (i) => {
    const claimed = await store.claimNext(`w${i % clients}`, 'default', 60_000, Date.now());
    if (claimed === null) throw new Error('bench claim found nothing');
    const done = await store.completeJob(claimed.id, `w${i % clients}`, [], Date.now());
    if (done.kind !== 'finished') throw new Error('bench completion lost the job');
  });
  report(`${label}: claim→complete cycles`, n, cycleMs);
  // A fast prompt's last progress: a commit of its own before the completion, or with it (completeJob's
  // `progress`, what the agent does since round 9).
  const last = { value: 1, max: 1, node: '1', class_type: 'EmptyImage', fraction: 1 };
  for (const withCompletion of [false, true]) {
    await drive(n, clients, async (i) => {
      const r = await store.admitJob(job(accounts[i % accountCount] ?? '', i), Date.now());
      if (r.kind !== 'admitted') throw new Error(`bench admission rejected: ${r.kind}`);
    });
    const ms = await drive(n, clients, async (i) => {
      const worker = `w${i % clients}`;
      const claimed = await store.claimNext(worker, 'default', 60_000, Date.now());
      if (claimed === null) throw new Error('bench claim found nothing');
      if (!withCompletion) await store.updateProgress(claimed.id, worker, last, Date.now());
      const done = withCompletion
        ? await store.completeJob(claimed.id, worker, [], Date.now(), last)
        : await store.completeJob(claimed.id, worker, [], Date.now());
      if (done.kind !== 'finished') throw new Error('bench completion lost the job');
    });
    const what = withCompletion ? 'progress with the completion' : 'progress, then complete';
    report(`${label}: claim→${what}`, n, ms);
  }
}

async function benchSqlite(n: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'arrakis-bench-'));
  try {
    const store = await openStore(`sqlite:${join(dir, 'store.db')}`);
    try {
      await benchStore('sqlite store (1 connection)', store, n, 1);
    } finally {
      await store.close();
    }
    const ref = await openStore(`sqlite:${join(dir, 'ref.db')}`);
    await ref.migrate();
    await ref.close();
    const raw = new Database(join(dir, 'ref.db'));
    try {
      const r = runBareReference(raw, n, USERS);
      report('sqlite bare better-sqlite3 reference: admissions', n, r.admitMs);
      report('sqlite bare better-sqlite3 reference: cycles', n, r.cycleMs);
    } finally {
      raw.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function benchPostgres(n: number): Promise<void> {
  const server = await startPostgres();
  try {
    const url = await freshPgDatabase(server.adminUrl, 'arrakis_bench');
    const store = await openStore(url, { poolSize: CLIENTS });
    try {
      await benchStore(`postgres store (${CLIENTS} clients)`, store, n, CLIENTS);
    } finally {
      await store.close();
    }
    const r = await runBarePgReference(url, n, USERS, CLIENTS);
    report(`postgres bare pg reference (${CLIENTS} clients): admissions`, n, r.admitMs);
    report(`postgres bare pg reference (${CLIENTS} clients): cycles`, n, r.cycleMs);
  } finally {
    await server.stop();
  }
}

const n = jobsArg();
process.stdout.write(
  `arrakis admission bench: ${n} jobs over ${USERS} users of ${accountCount} account(s), node ${process.version}\n`,
);
const only = argValue('--only');
if (only !== 'postgres') await benchSqlite(n);
if (only !== 'sqlite') await benchPostgres(Math.min(n, 10_000));
