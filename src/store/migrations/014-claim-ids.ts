/**
 * Claim ids recorded with the lease. A remote agent names each claim (`claim_id`); when a claim ends without an
 * answer it could read, its next claim lists the lost ids (`lost_claims`), and the control plane gives back
 * exactly the jobs still leased by one of them to that worker — however late the flagged claim arrives. Before,
 * the flagged claim could only say "my last claim was lost", so the control plane gave back the worker's leases
 * that began before the flagged claim arrived, and only within a few seconds of its arrival: a proxy that held
 * the flagged claim longer could send back a job the agent had claimed since and was running.
 *
 * `jobs.claim_id`: the id the claimer gave the claim that made the job's latest lease by this release (NULL when
 * it named none: an in-process agent, an agent of an earlier release). It is read only for running jobs, with
 * their worker (Store.leasesOfClaims); nothing clears it when a lease ends, and the next claim writes its own.
 *
 * Postgres: arrakis_claim_as is migration 009's arrakis_claim with one more parameter, `p_claim_id`, written by
 * the claim's update. arrakis_claim stays as 009 left it, for replicas of the previous release while this one runs
 * beside them. It is not redefined: their claim is a named prepared statement selecting `c.*` from it, and
 * replacing the function makes Postgres re-plan that statement with the new column, which it refuses ("cached plan
 * must not change result type") on every claim until the connection closes; adding a column alone does not. Their
 * leases keep the job's earlier `claim_id`, which no claim lists: such a replica refuses named claims (400), so an
 * agent it leases to names none (RemoteJobChannel). SQLite: the column only (the claim is job-sql.ts startPicked).
 * Append-only: never edit once landed; add the next number instead.
 */
import { migration009 } from './009-claim-scale.js';
import type { Migration } from './migration.js';

/** The claim's lease update in migration 009's arrakis_claim, and the same writing the claim id. */
const LEASE_UPDATE = 'attempts = attempts + 1, started_at = p_started_at,';
const LEASE_UPDATE_WITH_ID = 'attempts = attempts + 1, started_at = p_started_at, claim_id = p_claim_id,';
const SIGNATURE = `CREATE FUNCTION arrakis_claim(
    p_worker_id TEXT, p_lease_expires_at BIGINT, p_started_at BIGINT, p_pool TEXT, p_max_levels INTEGER,
    p_affinity_ms BIGINT)`;
const SIGNATURE_WITH_ID = `CREATE FUNCTION arrakis_claim_as(
    p_worker_id TEXT, p_lease_expires_at BIGINT, p_started_at BIGINT, p_pool TEXT, p_max_levels INTEGER,
    p_affinity_ms BIGINT, p_claim_id TEXT)`;

/** Migration 009's arrakis_claim definition (its text is frozen: 009 has landed), naming the claim. */
export function claimAsOf009(): string {
  const text = migration009.postgres.find((s) => s.startsWith('CREATE FUNCTION arrakis_claim(')) ?? '';
  // Both replacements are checked by test/store/server-functions.test.ts.
  return text.replace(SIGNATURE, SIGNATURE_WITH_ID).replace(LEASE_UPDATE, LEASE_UPDATE_WITH_ID);
}

export const migration014: Migration = {
  id: 14,
  name: 'claim-ids',
  sqlite: ['ALTER TABLE jobs ADD COLUMN claim_id TEXT'],
  postgres: ['ALTER TABLE jobs ADD COLUMN claim_id TEXT', claimAsOf009()],
};
