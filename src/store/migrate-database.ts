/** Opens the database at `url`, applies pending migrations, closes it, and returns what it applied. */
import type { KyselyStore } from './kysely-store.js';
import { DatabaseOpenError, openKyselyStore, UnsupportedDatabaseUrlError } from './open.js';

/** Migration names applied by this call, e.g. `['001-initial']`; empty when the database was current. */
export async function migrateDatabase(url: string): Promise<string[]> {
  let store: KyselyStore;
  try {
    store = openKyselyStore(url, { poolSize: 1 });
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
