/**
 * One naming rule for lease columns (docs/store.md, "Leases"): a lease is an `…lease_owner` column (who holds
 * it) and an `…lease_expires_at` column (epoch ms it runs out); a second lease on the same table takes a prefix
 * naming what it guards. So:
 *   webhook_deliveries.lease_owner / lease_until      → lease_owner / lease_expires_at
 *   jobs.fetch_owner / fetch_lease_until               → fetch_lease_owner / fetch_lease_expires_at
 * The job's run lease keeps `worker_id` + `lease_expires_at`: `worker_id` also records who ran the job after
 * its lease has ended, so it is more than the lease owner.
 *
 * `ALTER TABLE … RENAME COLUMN` works on both databases and carries the indexes with it (none names these
 * columns). No server function names them either (their bodies are resolved at run time, so one that did would
 * have to be re-created here): arrakis_admit, arrakis_admit_rated, arrakis_claim and arrakis_finish_running
 * read and write only the run lease, and return whole `jobs` rows, whose row type follows the rename.
 * test/store/lease-names.test.ts checks every function body on a migrated database for the old names.
 *
 * The server functions as of this migration, and the transaction path each mirrors (job-sql.ts statement names;
 * the living table with the parity scripts is docs/store.md, "Server functions"):
 *   arrakis_admit (004)          admitInTx: findByIdempotencyKey, insertJob, userAdmit, accountAdmit (accountLimits)
 *   arrakis_admit_rated (007)    takeTokensIn: takeBucketToken per bucket (bucketLevel), then as arrakis_admit
 *   arrakis_claim (006)          claimNext: nextWaitingLevel, pickAtLevel, pickAny, pickTier, pickAffinity,
 *                                markPassed, startPicked, then settleTransition: userRunningUp, insertEvent
 *   arrakis_finish_running (002) finishRunning, then settleTransition: userRelease, insertEvent, accountRelease
 *
 * Rolling upgrades: a replica of an earlier release still names the old columns; from the moment this
 * migration is applied its input fetcher, webhook deliverer and failQueuedJob fail (column does not exist)
 * until it is replaced. Replace all replicas together (docs/store.md, "Upgrading replicas").
 * Append-only: never edit once landed.
 */
import type { Migration } from './migration.js';

const statements = [
  'ALTER TABLE webhook_deliveries RENAME COLUMN lease_until TO lease_expires_at',
  'ALTER TABLE jobs RENAME COLUMN fetch_owner TO fetch_lease_owner',
  'ALTER TABLE jobs RENAME COLUMN fetch_lease_until TO fetch_lease_expires_at',
];

export const migration008: Migration = {
  id: 8,
  name: 'lease-names',
  sqlite: statements,
  postgres: statements,
};
