/**
 * Claim cost against queue depth: the real store's claimNext with N jobs queued (N = 100, 1 000, 5 000,
 * 20 000 by default) over 500 users and 20 models (Zipf popularity), 20 workers each holding a different
 * model in VRAM and every model on disk. Each measured claim is followed (untimed) by the job's completion
 * and one new admission, so the queue stays N deep. Fair-only (`affinityMaxDelayMs` 0) and affinity (10 s),
 * on SQLite and Postgres (one connection: the latency of one claim, not throughput).
 * Run: node --import tsx bench/claim.ts [--depths 100,1000,5000,20000] [--claims 300] [--only sqlite|postgres]
 * (starts its own embedded Postgres unless ARRAKIS_TEST_PG names one). Prints one line per measurement.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_LIMITS } from '../src/jobs/types.js';
import type { NewJob, Store } from '../src/store/contract.js';
import { openStore } from '../src/store/open.js';
import { jobInput, registerWorker } from '../test/store/fixtures.js';
import { startPostgres } from '../test/support/postgres-server.js';
import { argValue, freshPgDatabase, zipfRanks } from './bench-args.js';

const USERS = 500;
const MODELS = 20;
const WORKERS = 20;

const DEPTHS = (argValue('--depths') ?? '100,1000,5000,20000').split(',').map(Number);
const CLAIMS = Number(argValue('--claims') ?? 300);

function job(accountId: string, i: number, model: string): NewJob {
  return jobInput(accountId, `u${i % USERS}`, { models: [{ kind: 'checkpoint', name: model }] });
}

async function fill(store: Store, accountId: string, n: number, next: () => string): Promise<void> {
  const batch = 16;
  for (let i = 0; i < n; i += batch) {
    await Promise.all(
      Array.from({ length: Math.min(batch, n - i) }, async (_, k) => {
        const r = await store.admitJob(job(accountId, i + k, next()), 1_000 + i + k);
        if (r.kind !== 'admitted') throw new Error(`bench admission rejected: ${r.kind}`);
      }),
    );
  }
}

/** CLAIMS claim cycles at depth n; returns the mean ms of the claim alone. */
async function measure(store: Store, accountId: string, n: number, affinityMs: number, next: () => string) {
  let claimMs = 0;
  let t = 10_000_000 + n * 10;
  for (let i = 0; i < CLAIMS; i++) {
    const worker = `w${i % WORKERS}`;
    const started = performance.now();
    const claimed = await store.claimNext(worker, 'default', 60_000, t, { affinityMaxDelayMs: affinityMs });
    claimMs += performance.now() - started;
    if (claimed === null) throw new Error('bench claim found nothing');
    await store.completeJob(claimed.id, worker, [], t + 1);
    const r = await store.admitJob(job(accountId, n + i, next()), t + 2);
    if (r.kind !== 'admitted') throw new Error(`bench admission rejected: ${r.kind}`);
    t += 50;
  }
  return claimMs / CLAIMS;
}

async function benchDepths(label: string, open: () => Promise<{ store: Store; done: () => Promise<void> }>) {
  for (const n of DEPTHS) {
    const { store, done } = await open();
    try {
      await store.migrate();
      const limits = { ...DEFAULT_LIMITS, max_active_jobs: 10_000_000, max_active_jobs_per_user: 10_000_000 };
      const account = await store.createAccount(
        {
          name: 'bench',
          limits,
          jwt: null,
          nodeAllowlist: null,
          allowedPools: null,
          webhookSecret: 'whsec_x',
        },
        1,
      );
      const all = Array.from({ length: MODELS }, (_, i) => `m${i}.safetensors`);
      for (let w = 0; w < WORKERS; w++) {
        await registerWorker(store, `w${w}`, {
          available: all,
          warm: [all[w % MODELS] ?? ''],
          onDisk: [],
          canFetch: false,
          switches: 0,
        });
      }
      const rank = zipfRanks(MODELS, 7);
      const next = (): string => `m${rank()}.safetensors`;
      await fill(store, account.id, n, next);
      for (const [mode, ms] of [
        ['fair-only', 0],
        ['affinity 10 s', 10_000],
      ] as const) {
        const per = await measure(store, account.id, n, ms, next);
        process.stdout.write(
          `${label} ${String(n).padStart(6)} queued, ${mode.padEnd(13)} ${per.toFixed(2).padStart(7)} ms/claim ${String(Math.round(1000 / per)).padStart(6)} claims/s\n`,
        );
      }
    } finally {
      await done();
    }
  }
}

async function benchSqlite(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'arrakis-claim-bench-'));
  let k = 0;
  try {
    await benchDepths('sqlite  ', async () => {
      const store = await openStore(`sqlite:${join(dir, `s${k++}.db`)}`);
      return { store, done: () => store.close() };
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function benchPostgres(): Promise<void> {
  const server = await startPostgres();
  let k = 0;
  try {
    await benchDepths('postgres', async () => {
      const url = await freshPgDatabase(server.adminUrl, `arrakis_claim_bench_${k++}`);
      const store = await openStore(url, { poolSize: 16 });
      return { store, done: () => store.close() };
    });
  } finally {
    await server.stop();
  }
}

process.stdout.write(
  `arrakis claim bench: ${USERS} users, ${MODELS} models (Zipf), ${WORKERS} workers, ${CLAIMS} claims per line, node ${process.version}\n`,
);
const only = argValue('--only');
if (only !== 'postgres') await benchSqlite();
if (only !== 'sqlite') await benchPostgres();
