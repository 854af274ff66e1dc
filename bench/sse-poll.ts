/**
 * One period of the event streams' safety poll with N idle streams (10 000 by default, each on a queued job), on
 * SQLite and Postgres: the poll as it was (a listJobEvents per stream, as each stream's own timer ran it) and as
 * it is (one jobEventSeqs over every stream's job, one statement per slice of ids). For each: statements, wall
 * ms per period and the event loop's busy ms per period (performance.eventLoopUtilization).
 * Run: node --import tsx bench/sse-poll.ts [--streams 10000] [--periods 5] [--only sqlite|postgres]
 * (starts its own embedded Postgres unless ARRAKIS_TEST_PG names one).
 */
import { performance } from 'node:perf_hooks';
import { DEFAULT_LIMITS } from '../src/jobs/types.js';
import type { Store } from '../src/store/contract.js';
import { jobInput } from '../test/store/fixtures.js';
import { argValue } from './bench-args.js';
import { onEachStore } from './bench-stores.js';

const STREAMS = Number(argValue('--streams') ?? 10_000);
const PERIODS = Number(argValue('--periods') ?? 5);
const USERS = 500;

async function fill(store: Store): Promise<string[]> {
  const limits = { ...DEFAULT_LIMITS, max_active_jobs: 10_000_000, max_active_jobs_per_user: 10_000_000 };
  const account = await store.createAccount(
    { name: 'bench', limits, jwt: null, nodeAllowlist: null, allowedPools: null, webhookSecret: 'whsec_x' },
    1,
  );
  const ids: string[] = [];
  const batch = 16;
  for (let i = 0; i < STREAMS; i += batch) {
    const admitted = await Promise.all(
      Array.from({ length: Math.min(batch, STREAMS - i) }, (_, k) =>
        store.admitJob(jobInput(account.id, `u${(i + k) % USERS}`), Date.now()),
      ),
    );
    for (const r of admitted) {
      if (r.kind !== 'admitted') throw new Error(`bench admission rejected: ${r.kind}`);
      ids.push(r.job.id);
    }
  }
  return ids;
}

/** Mean wall and event-loop-busy ms of one period. */
async function time(period: () => Promise<unknown>): Promise<{ wall: number; busy: number }> {
  await period();
  const elu = performance.eventLoopUtilization();
  const began = performance.now();
  for (let i = 0; i < PERIODS; i++) await period();
  return {
    wall: (performance.now() - began) / PERIODS,
    busy: performance.eventLoopUtilization(elu).active / PERIODS,
  };
}

async function bench(label: string, store: Store): Promise<void> {
  await store.migrate();
  const ids = await fill(store);
  const cases: Array<[string, number, () => Promise<unknown>]> = [
    // The streams' timers were independent; in the worst case their reads overlap (all of them at once).
    [
      'a listJobEvents per stream (before)',
      ids.length,
      () => Promise.all(ids.map((id) => store.listJobEvents(id, 0))),
    ],
    ['one jobEventSeqs (after)', Math.ceil(ids.length / 300), () => store.jobEventSeqs(ids)],
  ];
  for (const [what, statements, period] of cases) {
    const r = await time(period);
    process.stdout.write(
      `${label} ${what.padEnd(36)} ${String(statements).padStart(6)} statements, ${r.wall.toFixed(1).padStart(8)} ms/period, event loop busy ${r.busy.toFixed(1).padStart(8)} ms/period\n`,
    );
  }
}

process.stdout.write(
  `arrakis SSE safety poll bench: ${STREAMS} idle streams, ${PERIODS} periods per line, node ${process.version}\n`,
);
await onEachStore('sse-poll', bench);
