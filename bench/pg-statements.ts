/**
 * bench/pg-statements — where a job's store time goes on Postgres: the server's own execution time of each
 * statement (pg_stat_statements, nested statements of the store's functions included) beside the time the
 * caller waits for each store call, one job at a time as a single worker runs them (admit → claim → complete
 * with the run's last progress).
 *
 *   node --import tsx bench/pg-statements.ts [--jobs 4000] [--top 25]
 *
 * Starts its own embedded Postgres with pg_stat_statements preloaded (`track = all`), as the test helper's
 * settings otherwise (fsync and synchronous_commit off); a server ARRAKIS_TEST_PG names is used instead, and
 * must preload pg_stat_statements itself. The first half of the jobs warm up (V8 and Postgres's
 * plan caches); the statistics are reset and the second half measured. The gap between a call's wait and its
 * statement's execution is the round trip: the client's work, the socket, the backend's wake-up.
 */
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { z } from 'zod';
import { DEFAULT_LIMITS } from '../src/jobs/types.js';
import { openStore } from '../src/store/open.js';
import { jobInput } from '../test/store/fixtures.js';
import { startPostgres } from '../test/support/postgres-server.js';
import { argValue, dropPgDatabase, freshPgDatabase } from './bench-args.js';

const JOBS = Math.max(2, Number(argValue('--jobs') ?? 4000) || 4000);
const TOP = Math.max(1, Number(argValue('--top') ?? 25) || 25);

const statRow = z.object({
  calls: z.coerce.number(),
  mean_ms: z.coerce.number(),
  toplevel: z.boolean(),
  query: z.string(),
});

function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
}

const server = await startPostgres([
  'shared_preload_libraries=pg_stat_statements',
  'pg_stat_statements.track=all',
]);
const DATABASE = `arrakis_bench_pg_statements_${process.pid}`;
let admin: pg.Client | null = null;
try {
  const url = await freshPgDatabase(server.adminUrl, DATABASE);
  admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  const store = await openStore(url, { poolSize: 4 });
  try {
    await store.migrate();
    const limits = { ...DEFAULT_LIMITS, max_active_jobs: 10_000_000, max_active_jobs_per_user: 10_000_000 };
    const account = await store.createAccount(
      { name: 'bench', limits, jwt: null, nodeAllowlist: null, allowedPools: null, webhookSecret: 'whsec_x' },
      Date.now(),
    );
    const waits = { admit: [] as number[], claim: [] as number[], complete: [] as number[] };
    for (let i = 0; i < JOBS; i++) {
      if (i === Math.floor(JOBS / 2)) await admin.query('SELECT pg_stat_statements_reset()');
      const t0 = performance.now();
      const admitted = await store.admitJob(jobInput(account.id, `u${i % 50}`, { models: [] }), Date.now());
      const t1 = performance.now();
      const claimed = await store.claimNext('w1', 'default', 60_000, Date.now());
      const t2 = performance.now();
      if (claimed === null) throw new Error(`job ${i} was not claimed: ${JSON.stringify(admitted)}`);
      const progress = { value: 1, max: 1, node: '1', fraction: 1 };
      const done = await store.completeJob(claimed.id, 'w1', [], Date.now(), progress);
      const t3 = performance.now();
      if (done.kind !== 'finished') throw new Error(`job ${claimed.id}: completion refused`);
      if (i < Math.floor(JOBS / 2)) continue;
      waits.admit.push(t1 - t0);
      waits.claim.push(t2 - t1);
      waits.complete.push(t3 - t2);
    }
    const stats = await admin.query(
      `SELECT calls, total_exec_time / calls AS mean_ms, toplevel, query FROM pg_stat_statements
        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND query NOT LIKE '%pg_stat_statements%' ORDER BY total_exec_time DESC LIMIT ${TOP}`,
    );
    const measured = JOBS - Math.floor(JOBS / 2);
    console.log(
      `bench/pg-statements: ${measured} jobs measured after ${Math.floor(JOBS / 2)}, one at a time, embedded Postgres`,
    );
    console.log(
      `store call, caller's wait (median): admit ${median(waits.admit).toFixed(3)} ms   claim ${median(waits.claim).toFixed(3)} ms   complete ${median(waits.complete).toFixed(3)} ms`,
    );
    console.log(
      'server execution per call (mean ms), calls per job; T = the statement sent, n = nested in a function',
    );
    for (const raw of stats.rows) {
      const r = statRow.parse(raw);
      const text = r.query.replace(/\s+/g, ' ').slice(0, 110);
      console.log(
        `${r.mean_ms.toFixed(3).padStart(8)}  ${(r.calls / measured).toFixed(1).padStart(4)}  ${r.toplevel ? 'T' : 'n'}  ${text}`,
      );
    }
  } finally {
    await store.close();
  }
} finally {
  await admin?.end().catch(() => {});
  await dropPgDatabase(server.adminUrl, DATABASE).catch(() => {});
  await server.stop();
}
