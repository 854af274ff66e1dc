/**
 * Postgres server functions for the hot paths: admission and finishing a running job (both take an
 * account's counter row lock) and the fair claim. Run as ONE autocommit statement, they hold their row
 * locks only while the function runs and commits, instead of across several client↔server round trips,
 * which is what bounded one busy account's throughput. They do exactly what the transaction paths in
 * verbs/admission.ts, verbs/transitions.ts and verbs/claims.ts do, in the same lock order
 * (jobs → user_counters → accounts); a change to one side must be made to both (a new migration here).
 * SQLite has no server functions and serialises all writers anyway: a no-op there.
 * Append-only: never edit once landed; add 003-... instead.
 */
import type { Migration } from './migration.js';

/**
 * Admission: the idempotency lookup returns the earlier job (the caller compares request hashes); else
 * the insert, then the user and account counters, each +1 only below its limit. A limit refusal raises
 * SQLSTATE AR001 (message: the scope, detail: the limit) so the whole statement rolls back and changes
 * nothing. A concurrent same-key admission that committed first surfaces as the unique violation 23505,
 * an unknown account as the foreign-key violation 23503, exactly as from the transaction path.
 * Returns no row when admitted.
 */
const ADMIT = `CREATE FUNCTION arrakis_admit(
    p_id TEXT, p_account_id TEXT, p_user_id TEXT, p_priority INTEGER, p_pool TEXT, p_created_at BIGINT,
    p_workflow TEXT, p_template_name TEXT, p_inputs TEXT, p_inputs_ready INTEGER, p_webhook_url TEXT,
    p_metadata TEXT, p_idempotency_key TEXT, p_request_hash TEXT)
  RETURNS SETOF jobs LANGUAGE plpgsql AS $fn$
DECLARE
  v_limit BIGINT;
BEGIN
  IF p_idempotency_key IS NOT NULL THEN
    RETURN QUERY SELECT * FROM jobs
      WHERE account_id = p_account_id AND user_id = p_user_id AND idempotency_key = p_idempotency_key;
    IF FOUND THEN RETURN; END IF;
  END IF;
  INSERT INTO jobs (id, account_id, user_id, status, priority, pool, cancel_requested, created_at, workflow,
    template_name, inputs, inputs_ready, webhook_url, metadata, outputs, attempts, idempotency_key,
    request_hash, event_seq)
  VALUES (p_id, p_account_id, p_user_id, 'queued', p_priority, p_pool, 0, p_created_at, p_workflow,
    p_template_name, p_inputs, p_inputs_ready, p_webhook_url, p_metadata, '[]', 0, p_idempotency_key,
    p_request_hash, 0);
  INSERT INTO user_counters (account_id, user_id, active, running)
    SELECT id, p_user_id, 1, 0 FROM accounts WHERE id = p_account_id AND max_active_jobs_per_user >= 1
    ON CONFLICT (account_id, user_id) DO UPDATE SET active = user_counters.active + 1
    WHERE user_counters.active < (SELECT a.max_active_jobs_per_user FROM accounts a WHERE a.id = p_account_id);
  IF NOT FOUND THEN
    SELECT max_active_jobs_per_user INTO v_limit FROM accounts WHERE id = p_account_id;
    RAISE EXCEPTION USING ERRCODE = 'AR001', MESSAGE = 'user', DETAIL = v_limit::TEXT;
  END IF;
  -- Last: the row every admission of this account waits on is locked only until the commit that follows.
  UPDATE accounts SET active_jobs = active_jobs + 1 WHERE id = p_account_id AND active_jobs < max_active_jobs;
  IF NOT FOUND THEN
    SELECT max_active_jobs INTO v_limit FROM accounts WHERE id = p_account_id;
    RAISE EXCEPTION USING ERRCODE = 'AR001', MESSAGE = 'account', DETAIL = v_limit::TEXT;
  END IF;
END
$fn$`;

/**
 * running → completed|failed (→ cancelled when a cancel was accepted first) for a job WITHOUT a webhook:
 * the CAS, user counters -1 (active and running), the `done` event, then the account counter -1 last.
 * `p_done_data` is the event data for the asked status; a cancelled end records status cancelled, no error.
 * Returns the job row with its event_seq, or no row when the CAS matched nothing (lost, or the job has a
 * webhook: the caller then takes the transaction path, which builds the webhook payload).
 */
const FINISH_RUNNING = `CREATE FUNCTION arrakis_finish_running(
    p_status TEXT, p_outputs TEXT, p_error TEXT, p_finished_at BIGINT, p_id TEXT, p_worker_id TEXT,
    p_done_data TEXT)
  RETURNS SETOF jobs LANGUAGE plpgsql AS $fn$
DECLARE
  v_job jobs%ROWTYPE;
BEGIN
  UPDATE jobs SET
    status = CASE WHEN cancel_requested = 1 THEN 'cancelled' ELSE p_status END,
    outputs = CASE WHEN cancel_requested = 1 THEN outputs ELSE p_outputs END,
    error = CASE WHEN cancel_requested = 1 THEN NULL ELSE p_error END,
    finished_at = p_finished_at, lease_expires_at = NULL, event_seq = event_seq + 1
    WHERE id = p_id AND status = 'running' AND worker_id = p_worker_id AND webhook_url IS NULL
    RETURNING * INTO v_job;
  IF NOT FOUND THEN RETURN; END IF;
  UPDATE user_counters SET active = CASE WHEN active > 0 THEN active - 1 ELSE 0 END,
    running = CASE WHEN running > 0 THEN running - 1 ELSE 0 END
    WHERE account_id = v_job.account_id AND user_id = v_job.user_id;
  INSERT INTO job_events (job_id, seq, type, data, at) VALUES (v_job.id, v_job.event_seq, 'done',
    CASE WHEN v_job.status = 'cancelled' THEN '{"status":"cancelled","error":null}' ELSE p_done_data END,
    p_finished_at);
  UPDATE accounts SET active_jobs = active_jobs - 1 WHERE id = v_job.account_id AND active_jobs > 0;
  RETURN NEXT v_job;
END
$fn$`;

/**
 * A fair claim: the level walk of verbs/claims.ts (users with queued jobs, fewest running first, at most
 * `p_max_levels` levels, then the full fairness order as fallback), the queued → running CAS with its
 * SKIP LOCKED pick, the user's running +1 and the `status` event, as one statement.
 * Returns the claimed job row with its event_seq, or no row when nothing is claimable.
 */
const CLAIM = `CREATE FUNCTION arrakis_claim(
    p_worker_id TEXT, p_lease_expires_at BIGINT, p_started_at BIGINT, p_pool TEXT, p_max_levels INTEGER)
  RETURNS SETOF jobs LANGUAGE plpgsql AS $fn$
DECLARE
  v_job jobs%ROWTYPE;
  v_found BOOLEAN := FALSE;
  v_after BIGINT := -1;
  v_level BIGINT;
BEGIN
  FOR i IN 1..p_max_levels LOOP
    SELECT MIN(running) INTO v_level FROM user_counters WHERE active > running AND running > v_after;
    EXIT WHEN v_level IS NULL;
    UPDATE jobs SET status = 'running', worker_id = p_worker_id, lease_expires_at = p_lease_expires_at,
        attempts = attempts + 1, started_at = p_started_at, progress = NULL, event_seq = event_seq + 1
      WHERE status = 'queued' AND id = (SELECT j.id FROM jobs j
        WHERE j.status = 'queued' AND j.inputs_ready = 1 AND (j.pool IS NULL OR j.pool = p_pool)
          AND EXISTS (SELECT 1 FROM user_counters uc
            WHERE uc.account_id = j.account_id AND uc.user_id = j.user_id AND uc.running = v_level)
        ORDER BY j.priority DESC, j.created_at, j.id LIMIT 1 FOR UPDATE SKIP LOCKED)
      RETURNING * INTO v_job;
    v_found := FOUND;
    EXIT WHEN v_found;
    v_after := v_level;
  END LOOP;
  IF NOT v_found THEN
    -- Counters moved since a level was read, or the walk ran long: the full fairness order decides.
    UPDATE jobs SET status = 'running', worker_id = p_worker_id, lease_expires_at = p_lease_expires_at,
        attempts = attempts + 1, started_at = p_started_at, progress = NULL, event_seq = event_seq + 1
      WHERE status = 'queued' AND id = (SELECT j.id FROM jobs j
        LEFT JOIN user_counters uc ON uc.account_id = j.account_id AND uc.user_id = j.user_id
        WHERE j.status = 'queued' AND j.inputs_ready = 1 AND (j.pool IS NULL OR j.pool = p_pool)
        ORDER BY COALESCE(uc.running, 0), j.priority DESC, j.created_at, j.id LIMIT 1 FOR UPDATE OF j SKIP LOCKED)
      RETURNING * INTO v_job;
    IF NOT FOUND THEN RETURN; END IF;
  END IF;
  UPDATE user_counters SET running = running + 1 WHERE account_id = v_job.account_id AND user_id = v_job.user_id;
  -- The same text settleTransition writes for a claim.
  INSERT INTO job_events (job_id, seq, type, data, at) VALUES (v_job.id, v_job.event_seq, 'status',
    '{"status":"running","cancel_requested":' || CASE WHEN v_job.cancel_requested = 1 THEN 'true' ELSE 'false' END
      || ',"attempts":' || v_job.attempts || '}',
    p_started_at);
  RETURN NEXT v_job;
END
$fn$`;

export const migration002: Migration = {
  id: 2,
  name: 'server-functions',
  sqlite: [],
  postgres: [ADMIT, FINISH_RUNNING, CLAIM],
};
