/** Opens the database at `url`, applies pending migrations, closes it, and returns what it applied. */
import type { KyselyStore } from './kysely-store.js';
import type { MigrationRetry } from './migrator.js';
import { DatabaseOpenError, openKyselyStore, UnsupportedDatabaseUrlError } from './open.js';

/**
 * Migration names applied by this call, e.g. `['001-initial']`; empty when the database was current.
 * `onRetry` hears each migration attempt that gave up on a lock and is retried (Postgres).
 */
export async function migrateDatabase(
  url: string,
  onRetry?: (retry: MigrationRetry) => void,
): Promise<string[]> {
  let store: KyselyStore;
  try {
    store = openKyselyStore(url, {
      poolSize: 1,
      ...(onRetry === undefined ? {} : { onMigrationRetry: onRetry }),
    });
  } catch (err) {
    throw err instanceof UnsupportedDatabaseUrlError ? err : new DatabaseOpenError(url, err);
  }
  try {
    return await store.migrate();
  } catch (err) {
    throw new DatabaseOpenError(url, err);
  } finally {
    await store.close();
  }
}
