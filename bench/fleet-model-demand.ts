/**
 * The fleet tick's model read: the real store's fleetModelDemand with N jobs queued (20 000 by default) over 20
 * models (Zipf popularity, every third job with a LoRA listed before its checkpoint), on SQLite and Postgres.
 * Two reads: the first tick's (queued jobs plus a day of arrivals: every job) and a steady tick's (queued jobs
 * plus the arrivals since the last tick: none). For each: wall ms per call and the event loop's busy ms per
 * call (performance.eventLoopUtilization: the time this process could serve nothing else).
 * Run: node --import tsx bench/fleet-model-demand.ts [--jobs 20000] [--reads 20] [--only sqlite|postgres]
 * (starts its own embedded Postgres unless ARRAKIS_TEST_PG names one). The verb's answer is only counted, so
 * the same script measures an earlier shape of it too.
 */
import { performance } from 'node:perf_hooks';
import { DEFAULT_LIMITS } from '../src/jobs/types.js';
import type { ModelRef } from '../src/models/model-refs.js';
import type { Store } from '../src/store/contract.js';
import { jobInput } from '../test/store/fixtures.js';
import { argValue, zipfRanks } from './bench-args.js';
import { onEachStore } from './bench-stores.js';

const MODELS = 20;
const USERS = 500;

const JOBS = Number(argValue('--jobs') ?? 20_000);
const READS = Number(argValue('--reads') ?? 20);

function models(i: number, m: number): ModelRef[] {
  const base: ModelRef = { kind: 'checkpoint', name: `m${m}.safetensors` };
  return i % 3 === 0 ? [{ kind: 'lora', name: `l${i % 7}.safetensors` }, base] : [base];
}

async function fill(store: Store, start: number): Promise<void> {
  const limits = { ...DEFAULT_LIMITS, max_active_jobs: 10_000_000, max_active_jobs_per_user: 10_000_000 };
  const account = await store.createAccount(
    { name: 'bench', limits, jwt: null, nodeAllowlist: null, allowedPools: null, webhookSecret: 'whsec_x' },
    1,
  );
  const next = zipfRanks(MODELS, 7);
  const batch = 16;
  for (let i = 0; i < JOBS; i += batch) {
    await Promise.all(
      Array.from({ length: Math.min(batch, JOBS - i) }, async (_, k) => {
        const input = jobInput(account.id, `u${(i + k) % USERS}`, { models: models(i + k, next()) });
        const r = await store.admitJob(input, start + (i + k) * 100);
        if (r.kind !== 'admitted') throw new Error(`bench admission rejected: ${r.kind}`);
      }),
    );
  }
}

/** Mean wall and event-loop-busy ms of `READS` calls, and the size of one answer. */
async function time(read: () => Promise<{ queued: unknown[]; arrivals: unknown[] }>) {
  await read();
  const elu = performance.eventLoopUtilization();
  const began = performance.now();
  let rows = 0;
  for (let i = 0; i < READS; i++) {
    const r = await read();
    rows = r.queued.length + r.arrivals.length;
  }
  const wall = (performance.now() - began) / READS;
  const busy = performance.eventLoopUtilization(elu).active / READS;
  return { wall, busy, rows };
}

async function bench(label: string, store: Store): Promise<void> {
  await store.migrate();
  const start = Date.now() - JOBS * 100 - 60_000;
  await fill(store, start);
  const pools = ['default'];
  for (const [what, since] of [
    ['first tick (a day of arrivals)', Date.now() - 86_400_000],
    ['steady tick (no new arrivals)', Date.now()],
  ] as const) {
    const r = await time(() => store.fleetModelDemand(pools, since));
    process.stdout.write(
      `${label} ${JOBS} queued, ${what.padEnd(31)} ${r.wall.toFixed(2).padStart(8)} ms/call, event loop busy ${r.busy.toFixed(2).padStart(8)} ms/call, ${r.rows} rows answered\n`,
    );
  }
}

process.stdout.write(
  `arrakis fleetModelDemand bench: ${JOBS} queued jobs, ${MODELS} models (Zipf), ${READS} reads per line, node ${process.version}\n`,
);
await onEachStore('demand', bench);
