/**
 * Pools by equality: every job now carries a concrete pool, resolved at admission (the request's pool, else
 * the operator's default pool), so a worker claims only its own pool's jobs. Before, a NULL pool meant "any
 * worker may take it" while the fleet billed such jobs to its first pool. On Postgres arrakis_claim is
 * redefined from migration 004's text with `j.pool = p_pool` in place of `(j.pool IS NULL OR j.pool = p_pool)`
 * — the same change made to pickAtLevel, pickAny and pickAffinity in job-sql.ts (the transaction path it
 * mirrors). Jobs stored with a NULL pool are not touched here (a migration cannot know the operator's
 * default pool): serve adopts them at start (Store.adoptUnpooledJobs). SQLite has no server functions.
 * Append-only: never edit once landed.
 */
import { migration004 } from './004-model-placement.js';
import type { Migration } from './migration.js';

/** The pool predicate of migration 004's claim (three times: level walk, fallback, affinity). */
const POOL_OR_NULL = '(j.pool IS NULL OR j.pool = p_pool)';
const POOL_EQUALS = 'j.pool = p_pool';

/** Migration 004's arrakis_claim definition (its text is frozen: 004 has landed). */
function claimOf004(): string {
  const text = migration004.postgres.find((s) => s.startsWith('CREATE FUNCTION arrakis_claim('));
  // Always found (test/store/server-functions.test.ts checks the three replacements were made).
  return text ?? '';
}

export const migration006: Migration = {
  id: 6,
  name: 'pool-equality',
  sqlite: [],
  postgres: [
    'DROP FUNCTION arrakis_claim(TEXT, BIGINT, BIGINT, TEXT, INTEGER, BIGINT)',
    claimOf004().replaceAll(POOL_OR_NULL, POOL_EQUALS),
  ],
};
