/** Opens the database at `url`, applies pending migrations, closes it, and returns what it applied. */
import { openKyselyStore } from './open.js';

/** Migration names applied by this call, e.g. `['001-initial']`; empty when the database was current. */
export async function migrateDatabase(url: string): Promise<string[]> {
  const store = openKyselyStore(url, { poolSize: 1 });
  try {
    return await store.migrateReporting();
  } finally {
    await store.close();
  }
}
