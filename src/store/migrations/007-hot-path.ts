/**
 * Postgres: submit-rate tokens and admission in ONE autocommit statement (one commit per submission instead of
 * a token transaction followed by the admission). arrakis_admit_rated takes one token from each bucket, in the
 * given order, with the same refill-check-take upsert as the `takeBucketToken` statement, then runs
 * arrakis_admit as migration 004-model-placement defines it (same arguments, the job's models included, same
 * checks). An empty bucket raises SQLSTATE AR002 (detail: milliseconds until it holds a token again), so the
 * whole statement, tokens included, rolls back and changes nothing.
 * SQLite runs the same steps in one transaction (verbs/admission.ts): a no-op there.
 * Append-only: never edit once landed; add the next number instead.
 */
import type { Migration } from './migration.js';

const ADMIT_RATED = `CREATE FUNCTION arrakis_admit_rated(
    p_id TEXT, p_account_id TEXT, p_user_id TEXT, p_priority INTEGER, p_pool TEXT, p_created_at BIGINT,
    p_workflow TEXT, p_template_name TEXT, p_inputs TEXT, p_inputs_ready INTEGER, p_webhook_url TEXT,
    p_metadata TEXT, p_idempotency_key TEXT, p_request_hash TEXT, p_models TEXT,
    p_keys TEXT[], p_rates DOUBLE PRECISION[], p_bursts DOUBLE PRECISION[])
  RETURNS SETOF jobs LANGUAGE plpgsql AS $fn$
DECLARE
  v_tokens DOUBLE PRECISION;
  v_updated BIGINT;
  v_level DOUBLE PRECISION;
  v_wait BIGINT;
BEGIN
  FOR i IN 1 .. COALESCE(array_length(p_keys, 1), 0) LOOP
    INSERT INTO rate_buckets (key, tokens, updated_at) VALUES (p_keys[i], p_bursts[i] - 1, p_created_at)
    ON CONFLICT (key) DO UPDATE SET
      tokens = LEAST(excluded.tokens + 1, rate_buckets.tokens
        + GREATEST(excluded.updated_at - rate_buckets.updated_at, 0) * p_rates[i] / 1000.0) - 1,
      updated_at = GREATEST(excluded.updated_at, rate_buckets.updated_at)
    WHERE LEAST(excluded.tokens + 1, rate_buckets.tokens
        + GREATEST(excluded.updated_at - rate_buckets.updated_at, 0) * p_rates[i] / 1000.0) >= 1;
    IF NOT FOUND THEN
      SELECT tokens, updated_at INTO v_tokens, v_updated FROM rate_buckets WHERE key = p_keys[i];
      v_level := LEAST(p_bursts[i], v_tokens + GREATEST(p_created_at - v_updated, 0) * p_rates[i] / 1000.0);
      IF p_rates[i] <= 0 THEN
        v_wait := 60000;
      ELSE
        v_wait := GREATEST(1, CEIL((1 - v_level) * 1000 / p_rates[i]));
      END IF;
      RAISE EXCEPTION USING ERRCODE = 'AR002', MESSAGE = 'rate', DETAIL = v_wait::TEXT;
    END IF;
  END LOOP;
  RETURN QUERY SELECT * FROM arrakis_admit(p_id, p_account_id, p_user_id, p_priority, p_pool, p_created_at,
    p_workflow, p_template_name, p_inputs, p_inputs_ready, p_webhook_url, p_metadata, p_idempotency_key,
    p_request_hash, p_models);
END
$fn$`;

export const migration007: Migration = {
  id: 7,
  name: 'hot-path',
  sqlite: [],
  postgres: [ADMIT_RATED],
};
