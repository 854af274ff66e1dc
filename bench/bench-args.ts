/**
 * What the store benches share: a flag's value from the command line, a seeded Zipf(1) draw of model ranks
 * (the simulator's sampler and generator), so every run queues the same mix, and a fresh Postgres database.
 */
import pg from 'pg';
import { seededRandom } from '../src/fleet/simulator/random.js';
import { zipfSampler } from '../src/fleet/simulator/workload.js';

/** The value after `flag` on the command line, if given. */
export function argValue(flag: string): string | undefined {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** Model ranks 0..models-1 with P(rank k) ∝ 1/(k+1), from a seeded generator. */
export function zipfRanks(models: number, seed: number): () => number {
  const draw = zipfSampler(models, 1);
  const rand = seededRandom(seed);
  return () => draw(rand);
}

/** Drops and creates database `name` on the server at `adminUrl`; resolves with its URL. */
export async function freshPgDatabase(adminUrl: string, name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Drops database `name` on the server at `adminUrl` (its connections cut), if it exists. */
export async function dropPgDatabase(adminUrl: string, name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}
