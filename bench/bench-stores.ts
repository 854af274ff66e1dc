/**
 * A store bench's backends: `bench(label, store)` on a fresh SQLite file, then on a fresh database of an embedded
 * Postgres (or the one ARRAKIS_TEST_PG names), each closed and removed after; `--only sqlite|postgres` picks one.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Store } from '../src/store/contract.js';
import { openStore } from '../src/store/open.js';
import { startPostgres } from '../test/support/postgres-server.js';
import { argValue, freshPgDatabase } from './bench-args.js';

/** Runs `bench` on each backend `--only` allows; `name` names the temp folder and the Postgres database. */
export async function onEachStore(
  name: string,
  bench: (label: string, store: Store) => Promise<void>,
): Promise<void> {
  const only = argValue('--only');
  if (only !== 'postgres') {
    const dir = mkdtempSync(join(tmpdir(), `arrakis-${name}-bench-`));
    const store = await openStore(`sqlite:${join(dir, 'bench.db')}`);
    try {
      await bench('sqlite  ', store);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  if (only !== 'sqlite') {
    const server = await startPostgres();
    try {
      const url = await freshPgDatabase(server.adminUrl, `arrakis_${name.replaceAll('-', '_')}_bench`);
      const store = await openStore(url, { poolSize: 16 });
      try {
        await bench('postgres', store);
      } finally {
        await store.close();
      }
    } finally {
      await server.stop();
    }
  }
}
