/**
 * Models: jobs record the model files they load, workers record the files they can load, hold in VRAM and
 * keep on disk, the model registry lists files a worker may fetch, and the claim learns placement
 * (never a job a worker cannot load) and bounded affinity (prefer a job whose model the worker holds).
 * On Postgres the admission and claim server functions of migration 002 are replaced by versions that do
 * the same plus the above (see verbs/admission.ts and verbs/claims.ts for the transaction paths they mirror).
 * Append-only: never edit once landed.
 */
import type { Migration } from './migration.js';

const COMMON = [
  // [{ "kind", "name" }] as derived at admission; '[]' for a job that loads no model file.
  `ALTER TABLE jobs ADD COLUMN models TEXT NOT NULL DEFAULT '[]'`,
  // When affinity first passed this job over while it was the fair pick: it may be passed over only until
  // this time + the affinity bound.
  `ALTER TABLE jobs ADD COLUMN affinity_passed_at BIGINT`,
  // 0 until the agent reports its models: such a worker takes any job, as before models were known.
  `ALTER TABLE workers ADD COLUMN models_known INTEGER NOT NULL DEFAULT 0`,
  `ALTER TABLE workers ADD COLUMN models_available TEXT NOT NULL DEFAULT '[]'`,
  `ALTER TABLE workers ADD COLUMN models_warm TEXT NOT NULL DEFAULT '[]'`,
  `ALTER TABLE workers ADD COLUMN models_on_disk TEXT NOT NULL DEFAULT '[]'`,
  // 1 when the agent has a model cache: it can fetch any registered file before running a job.
  `ALTER TABLE workers ADD COLUMN model_fetch INTEGER NOT NULL DEFAULT 0`,
  `ALTER TABLE workers ADD COLUMN model_switches INTEGER NOT NULL DEFAULT 0`,
  // [{ "kind", "name" }] the fleet asked this worker to fetch onto its disk while idle.
  `ALTER TABLE workers ADD COLUMN models_prefetch TEXT NOT NULL DEFAULT '[]'`,
  `CREATE TABLE model_files (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    url TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    created_at BIGINT NOT NULL
  )`,
];

/** arrakis_admit of migration 002 plus the job's models (p_models). */
const ADMIT = `CREATE FUNCTION arrakis_admit(
    p_id TEXT, p_account_id TEXT, p_user_id TEXT, p_priority INTEGER, p_pool TEXT, p_created_at BIGINT,
    p_workflow TEXT, p_template_name TEXT, p_inputs TEXT, p_inputs_ready INTEGER, p_webhook_url TEXT,
    p_metadata TEXT, p_idempotency_key TEXT, p_request_hash TEXT, p_models TEXT)
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
    request_hash, event_seq, models)
  VALUES (p_id, p_account_id, p_user_id, 'queued', p_priority, p_pool, 0, p_created_at, p_workflow,
    p_template_name, p_inputs, p_inputs_ready, p_webhook_url, p_metadata, '[]', 0, p_idempotency_key,
    p_request_hash, 0, p_models);
  INSERT INTO user_counters (account_id, user_id, active, running)
    SELECT id, p_user_id, 1, 0 FROM accounts WHERE id = p_account_id AND max_active_jobs_per_user >= 1
    ON CONFLICT (account_id, user_id) DO UPDATE SET active = user_counters.active + 1
    WHERE user_counters.active < (SELECT a.max_active_jobs_per_user FROM accounts a WHERE a.id = p_account_id);
  IF NOT FOUND THEN
    SELECT max_active_jobs_per_user INTO v_limit FROM accounts WHERE id = p_account_id;
    RAISE EXCEPTION USING ERRCODE = 'AR001', MESSAGE = 'user', DETAIL = v_limit::TEXT;
  END IF;
  UPDATE accounts SET active_jobs = active_jobs + 1 WHERE id = p_account_id AND active_jobs < max_active_jobs;
  IF NOT FOUND THEN
    SELECT max_active_jobs INTO v_limit FROM accounts WHERE id = p_account_id;
    RAISE EXCEPTION USING ERRCODE = 'AR001', MESSAGE = 'account', DETAIL = v_limit::TEXT;
  END IF;
END
$fn$`;

/** The names of a job's models (j.models is [{ kind, name }] as text). */
const JOB_NAMES = `SELECT m ->> 'name' AS name FROM json_array_elements(CAST(j.models AS json)) m`;
/** The names in one of the worker's JSON text arrays. */
const names = (col: string): string => `SELECT json_array_elements_text(CAST(w.${col} AS json))`;

/** The worker can load every file of job j: it reported none (unknown), or each is on it or fetchable. */
const ELIGIBLE = `(j.models = '[]' OR COALESCE(w.models_known, 0) = 0 OR NOT EXISTS (SELECT 1 FROM (${JOB_NAMES}) jm
    WHERE jm.name NOT IN (${names('models_available')}) AND jm.name NOT IN (${names('models_on_disk')})
      AND NOT (w.model_fetch = 1 AND jm.name IN (SELECT f.name FROM model_files f))))`;

/** 0: every file of job j is resident on the worker; 1: every file is on its disk; 2: something to fetch. */
const TIER = `(CASE WHEN NOT EXISTS (SELECT 1 FROM (${JOB_NAMES}) jm WHERE jm.name NOT IN (${names('models_warm')}))
    THEN 0 WHEN NOT EXISTS (SELECT 1 FROM (${JOB_NAMES}) jm WHERE jm.name NOT IN (${names('models_warm')})
      AND jm.name NOT IN (${names('models_available')}) AND jm.name NOT IN (${names('models_on_disk')}))
    THEN 1 ELSE 2 END)`;

/**
 * The fair claim of migration 002 (level walk, then the full fairness order) restricted to jobs the worker
 * can load, then bounded affinity when p_affinity_ms > 0: when the fair pick F has model files the worker
 * does not hold in VRAM, the fairest job the worker holds in VRAM (then on disk) is taken instead — unless F
 * was first passed over p_affinity_ms or more ago. F's first pass-over time is recorded.
 */
const CLAIM = `CREATE FUNCTION arrakis_claim(
    p_worker_id TEXT, p_lease_expires_at BIGINT, p_started_at BIGINT, p_pool TEXT, p_max_levels INTEGER,
    p_affinity_ms BIGINT)
  RETURNS SETOF jobs LANGUAGE plpgsql AS $fn$
DECLARE
  v_job jobs%ROWTYPE;
  v_pick TEXT;
  v_tier INTEGER;
  v_passed BIGINT;
  v_models TEXT;
  v_alt TEXT;
  v_after BIGINT := -1;
  v_level BIGINT;
BEGIN
  FOR i IN 1..p_max_levels LOOP
    SELECT MIN(running) INTO v_level FROM user_counters WHERE active > running AND running > v_after;
    EXIT WHEN v_level IS NULL;
    SELECT j.id, j.models, j.affinity_passed_at INTO v_pick, v_models, v_passed FROM jobs j
      LEFT JOIN workers w ON w.id = p_worker_id
      WHERE j.status = 'queued' AND j.inputs_ready = 1 AND (j.pool IS NULL OR j.pool = p_pool)
        AND EXISTS (SELECT 1 FROM user_counters uc
          WHERE uc.account_id = j.account_id AND uc.user_id = j.user_id AND uc.running = v_level)
        AND ${ELIGIBLE}
      ORDER BY j.priority DESC, j.created_at, j.id LIMIT 1 FOR UPDATE OF j SKIP LOCKED;
    EXIT WHEN v_pick IS NOT NULL;
    v_after := v_level;
  END LOOP;
  IF v_pick IS NULL THEN
    -- Counters moved since a level was read, or the walk ran long: the full fairness order decides.
    SELECT j.id, j.models, j.affinity_passed_at INTO v_pick, v_models, v_passed FROM jobs j
      LEFT JOIN user_counters uc ON uc.account_id = j.account_id AND uc.user_id = j.user_id
      LEFT JOIN workers w ON w.id = p_worker_id
      WHERE j.status = 'queued' AND j.inputs_ready = 1 AND (j.pool IS NULL OR j.pool = p_pool) AND ${ELIGIBLE}
      ORDER BY COALESCE(uc.running, 0), j.priority DESC, j.created_at, j.id LIMIT 1 FOR UPDATE OF j SKIP LOCKED;
    IF v_pick IS NULL THEN RETURN; END IF;
  END IF;
  IF p_affinity_ms > 0 AND v_models <> '[]'
      AND (v_passed IS NULL OR v_passed > p_started_at - p_affinity_ms) THEN
    SELECT ${TIER} INTO v_tier FROM jobs j LEFT JOIN workers w ON w.id = p_worker_id WHERE j.id = v_pick;
    IF v_tier > 0 THEN
      SELECT j.id INTO v_alt FROM jobs j
        LEFT JOIN user_counters uc ON uc.account_id = j.account_id AND uc.user_id = j.user_id
        LEFT JOIN workers w ON w.id = p_worker_id
        WHERE j.status = 'queued' AND j.inputs_ready = 1 AND (j.pool IS NULL OR j.pool = p_pool)
          AND j.models <> '[]' AND j.id <> v_pick AND ${ELIGIBLE} AND ${TIER} < v_tier
        ORDER BY ${TIER}, COALESCE(uc.running, 0), j.priority DESC, j.created_at, j.id
        LIMIT 1 FOR UPDATE OF j SKIP LOCKED;
      IF v_alt IS NOT NULL THEN
        UPDATE jobs SET affinity_passed_at = COALESCE(affinity_passed_at, p_started_at) WHERE id = v_pick;
        v_pick := v_alt;
      END IF;
    END IF;
  END IF;
  UPDATE jobs SET status = 'running', worker_id = p_worker_id, lease_expires_at = p_lease_expires_at,
      attempts = attempts + 1, started_at = p_started_at, progress = NULL, event_seq = event_seq + 1
    WHERE id = v_pick AND status = 'queued' RETURNING * INTO v_job;
  IF NOT FOUND THEN RETURN; END IF;
  UPDATE user_counters SET running = running + 1 WHERE account_id = v_job.account_id AND user_id = v_job.user_id;
  -- The same text settleTransition writes for a claim.
  INSERT INTO job_events (job_id, seq, type, data, at) VALUES (v_job.id, v_job.event_seq, 'status',
    '{"status":"running","cancel_requested":' || CASE WHEN v_job.cancel_requested = 1 THEN 'true' ELSE 'false' END
      || ',"attempts":' || v_job.attempts || '}',
    p_started_at);
  RETURN NEXT v_job;
END
$fn$`;

export const migration004: Migration = {
  id: 4,
  name: 'model-placement',
  sqlite: COMMON,
  postgres: [
    ...COMMON,
    'DROP FUNCTION arrakis_admit(TEXT, TEXT, TEXT, INTEGER, TEXT, BIGINT, TEXT, TEXT, TEXT, INTEGER, TEXT, TEXT, TEXT, TEXT)',
    ADMIT,
    'DROP FUNCTION arrakis_claim(TEXT, BIGINT, BIGINT, TEXT, INTEGER)',
    CLAIM,
  ],
};
