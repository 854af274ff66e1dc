/**
 * Claim at scale, and affinity's bound for every job. Two indexes: the queued jobs by first model file and
 * pool (a per-model queue head in one seek, so an affinity claim costs in the worker's models, not in the
 * queue depth; the model first, so the fair pick, which names no model, keeps walking jobs_claimable in
 * order), and the queued jobs affinity passed over (the overdue ones, found without a scan).
 * On Postgres arrakis_claim is redefined (same signature) to mirror verbs/claims.ts: a job passed over
 * `p_affinity_ms` or more ago goes first; the "due" job is the fairest one not passed over yet (a passed-over
 * job counts as handed out when it was passed over), so every job's clock starts when plain fair order would
 * have given it to a worker — before, only the fair pick's did, and the jobs behind it waited a bound each.
 * SQLite runs the same steps in one transaction. Append-only: never edit once landed.
 */
import type { Migration } from './migration.js';

/** Queued jobs that load a model file (a model-less workload pays no index upkeep). */
const QUEUED = `WHERE status = 'queued' AND inputs_ready = 1 AND models <> '[]'`;
const PASSED = `WHERE status = 'queued' AND affinity_passed_at IS NOT NULL`;

/** The names of a job's models (j.models is [{ kind, name }] as text). */
const JOB_NAMES = `SELECT m ->> 'name' AS name FROM json_array_elements(CAST(j.models AS json)) m`;
/** The names in one of the worker's JSON text arrays. */
const names = (col: string): string => `SELECT json_array_elements_text(CAST(w.${col} AS json))`;
/** The worker's names in one of its lists, as rows of `value` (a FROM item). */
const workerNames = (col: string): string =>
  `SELECT x.value FROM workers w2, json_array_elements_text(CAST(w2.${col} AS json)) AS x(value) WHERE w2.id = p_worker_id`;
/** The name of the job's first model file: the key of jobs_queued_model. */
const KEY = `(CAST(j.models AS json) -> 0 ->> 'name')`;

/** As migration 004: the worker can load every file of job j. */
const ELIGIBLE = `(j.models = '[]' OR COALESCE(w.models_known, 0) = 0 OR NOT EXISTS (SELECT 1 FROM (${JOB_NAMES}) jm
    WHERE jm.name NOT IN (${names('models_available')}) AND jm.name NOT IN (${names('models_on_disk')})
      AND NOT (w.model_fetch = 1 AND jm.name IN (SELECT f.name FROM model_files f))))`;

/** As migration 004: 0 every file of j resident, 1 every file on the worker's disk, 2 something to fetch. */
const TIER = `(CASE WHEN NOT EXISTS (SELECT 1 FROM (${JOB_NAMES}) jm WHERE jm.name NOT IN (${names('models_warm')}))
    THEN 0 WHEN NOT EXISTS (SELECT 1 FROM (${JOB_NAMES}) jm WHERE jm.name NOT IN (${names('models_warm')})
      AND jm.name NOT IN (${names('models_available')}) AND jm.name NOT IN (${names('models_on_disk')}))
    THEN 1 ELSE 2 END)`;

/** The fair pick (level walk, then the full order), among jobs not passed over when p_unpassed. */
const FAIR_PICK = `CREATE FUNCTION arrakis_fair_pick(
    p_worker_id TEXT, p_pool TEXT, p_max_levels INTEGER, p_unpassed BOOLEAN, OUT o_id TEXT, OUT o_models TEXT,
    OUT o_passed BIGINT)
  LANGUAGE plpgsql AS $fn$
DECLARE
  v_after BIGINT := -1;
  v_level BIGINT;
BEGIN
  FOR i IN 1..p_max_levels LOOP
    SELECT MIN(running) INTO v_level FROM user_counters WHERE active > running AND running > v_after;
    EXIT WHEN v_level IS NULL;
    SELECT j.id, j.models, j.affinity_passed_at INTO o_id, o_models, o_passed FROM jobs j
      LEFT JOIN workers w ON w.id = p_worker_id
      WHERE j.status = 'queued' AND j.inputs_ready = 1 AND j.pool = p_pool
        AND (NOT p_unpassed OR j.affinity_passed_at IS NULL)
        AND EXISTS (SELECT 1 FROM user_counters uc
          WHERE uc.account_id = j.account_id AND uc.user_id = j.user_id AND uc.running = v_level)
        AND ${ELIGIBLE}
      ORDER BY j.priority DESC, j.created_at, j.id LIMIT 1 FOR UPDATE OF j SKIP LOCKED;
    IF o_id IS NOT NULL THEN RETURN; END IF;
    v_after := v_level;
  END LOOP;
  -- Counters moved since a level was read, or the walk ran long: the full fairness order decides.
  SELECT j.id, j.models, j.affinity_passed_at INTO o_id, o_models, o_passed FROM jobs j
    LEFT JOIN user_counters uc ON uc.account_id = j.account_id AND uc.user_id = j.user_id
    LEFT JOIN workers w ON w.id = p_worker_id
    WHERE j.status = 'queued' AND j.inputs_ready = 1 AND j.pool = p_pool
      AND (NOT p_unpassed OR j.affinity_passed_at IS NULL) AND ${ELIGIBLE}
    ORDER BY COALESCE(uc.running, 0), j.priority DESC, j.created_at, j.id LIMIT 1 FOR UPDATE OF j SKIP LOCKED;
END
$fn$`;

/**
 * One level-walk step of the closer pick: per held name, the queue head at the level (LATERAL, one index
 * seek each), then the best head, locked on its own. `TIER <= t` is `TIER = t` here (a lower tier had no
 * job at any level) but lets the planner see that most rows of a name pass, so it walks the index in order
 * and stops at the first row instead of sorting every queued job of the name.
 */
const head = (namesFrom: string): string => `SELECT h.id INTO v_alt FROM (${namesFrom}) n
        CROSS JOIN LATERAL (SELECT j.id, j.priority, j.created_at FROM jobs j
          LEFT JOIN workers w ON w.id = p_worker_id
          WHERE j.status = 'queued' AND j.inputs_ready = 1 AND j.pool = p_pool AND j.models <> '[]'
            AND ${KEY} = n.value
            AND j.id <> p_due AND EXISTS (SELECT 1 FROM user_counters uc
              WHERE uc.account_id = j.account_id AND uc.user_id = j.user_id AND uc.running = v_level)
            AND ${ELIGIBLE} AND ${TIER} <= t
          ORDER BY j.priority DESC, j.created_at, j.id LIMIT 1) h
        ORDER BY h.priority DESC, h.created_at, h.id LIMIT 1`;

/** The fairest job other than p_due the worker holds closer than p_tier (verbs/claims.ts closerPick). */
const CLOSER_PICK = `CREATE FUNCTION arrakis_closer_pick(
    p_worker_id TEXT, p_pool TEXT, p_max_levels INTEGER, p_due TEXT, p_tier INTEGER)
  RETURNS TEXT LANGUAGE plpgsql AS $fn$
DECLARE
  v_alt TEXT;
  v_after BIGINT;
  v_level BIGINT;
BEGIN
  FOR t IN 0 .. p_tier - 1 LOOP
    v_after := -1;
    FOR i IN 0 .. p_max_levels LOOP
      IF i = p_max_levels THEN
        -- The walk ran long: the full order decides.
        SELECT j.id INTO v_alt FROM jobs j
          LEFT JOIN user_counters uc ON uc.account_id = j.account_id AND uc.user_id = j.user_id
          LEFT JOIN workers w ON w.id = p_worker_id
          WHERE j.status = 'queued' AND j.inputs_ready = 1 AND j.pool = p_pool
            AND j.models <> '[]' AND j.id <> p_due AND ${ELIGIBLE} AND ${TIER} < p_tier
          ORDER BY ${TIER}, COALESCE(uc.running, 0), j.priority DESC, j.created_at, j.id
          LIMIT 1 FOR UPDATE OF j SKIP LOCKED;
        RETURN v_alt;
      END IF;
      SELECT MIN(running) INTO v_level FROM user_counters WHERE active > running AND running > v_after;
      EXIT WHEN v_level IS NULL;
      IF t = 0 THEN
        ${head(workerNames('models_warm'))};
      ELSE
        ${head(['models_warm', 'models_available', 'models_on_disk'].map(workerNames).join(' UNION '))};
      END IF;
      IF v_alt IS NOT NULL THEN
        -- Locked on its own (a replica holding it makes this claim take the due job instead).
        SELECT j.id INTO v_alt FROM jobs j WHERE j.id = v_alt AND j.status = 'queued' FOR UPDATE SKIP LOCKED;
        RETURN v_alt;
      END IF;
      v_after := v_level;
    END LOOP;
  END LOOP;
  RETURN NULL;
END
$fn$`;

/** verbs/claims.ts claimNext in one statement: overdue first, then the due job or a closer one. */
const CLAIM = `CREATE FUNCTION arrakis_claim(
    p_worker_id TEXT, p_lease_expires_at BIGINT, p_started_at BIGINT, p_pool TEXT, p_max_levels INTEGER,
    p_affinity_ms BIGINT)
  RETURNS SETOF jobs LANGUAGE plpgsql AS $fn$
DECLARE
  v_job jobs%ROWTYPE;
  v_pick TEXT;
  v_models TEXT;
  v_tier INTEGER;
  v_alt TEXT;
  v_fair TEXT;
  v_passed BIGINT;
BEGIN
  IF p_affinity_ms > 0 THEN
    SELECT j.id INTO v_pick FROM jobs j
      LEFT JOIN user_counters uc ON uc.account_id = j.account_id AND uc.user_id = j.user_id
      LEFT JOIN workers w ON w.id = p_worker_id
      WHERE j.status = 'queued' AND j.inputs_ready = 1 AND j.pool = p_pool
        AND j.affinity_passed_at IS NOT NULL AND j.affinity_passed_at <= p_started_at - p_affinity_ms
        AND ${ELIGIBLE}
      ORDER BY COALESCE(uc.running, 0), j.priority DESC, j.created_at, j.id LIMIT 1 FOR UPDATE OF j SKIP LOCKED;
    IF v_pick IS NULL THEN
      SELECT f.o_id, f.o_models, f.o_passed INTO v_fair, v_models, v_passed
        FROM arrakis_fair_pick(p_worker_id, p_pool, p_max_levels, FALSE) f;
      v_pick := v_fair;
      IF v_passed IS NOT NULL THEN
        -- The fair pick was passed over already: the due job is the fairest one not passed over yet.
        SELECT f.o_id, f.o_models INTO v_pick, v_models
          FROM arrakis_fair_pick(p_worker_id, p_pool, p_max_levels, TRUE) f;
      END IF;
      IF v_pick IS NULL THEN
        -- Every job left was passed over within the bound: plain fair order among them.
        v_pick := v_fair;
      ELSIF v_models <> '[]' THEN
        SELECT ${TIER} INTO v_tier FROM jobs j LEFT JOIN workers w ON w.id = p_worker_id WHERE j.id = v_pick;
        IF v_tier > 0 THEN
          v_alt := COALESCE(arrakis_closer_pick(p_worker_id, p_pool, p_max_levels, v_pick, v_tier), v_fair);
          IF v_alt <> v_pick THEN
            UPDATE jobs SET affinity_passed_at = COALESCE(affinity_passed_at, p_started_at) WHERE id = v_pick;
            v_pick := v_alt;
          END IF;
        END IF;
      END IF;
    END IF;
  ELSE
    SELECT f.o_id INTO v_pick FROM arrakis_fair_pick(p_worker_id, p_pool, p_max_levels, FALSE) f;
  END IF;
  IF v_pick IS NULL THEN RETURN; END IF;
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

export const migration009: Migration = {
  id: 9,
  name: 'claim-scale',
  sqlite: [
    `CREATE INDEX jobs_queued_model ON jobs (json_extract(models, '$[0].name'), pool, priority DESC, created_at, id)
      ${QUEUED}`,
    `CREATE INDEX jobs_affinity_passed ON jobs (pool, affinity_passed_at) ${PASSED}`,
  ],
  postgres: [
    `CREATE INDEX jobs_queued_model ON jobs ((CAST(models AS json) -> 0 ->> 'name'), pool, priority DESC,
      created_at, id) ${QUEUED}`,
    `CREATE INDEX jobs_affinity_passed ON jobs (pool, affinity_passed_at) ${PASSED}`,
    FAIR_PICK,
    CLOSER_PICK,
    'DROP FUNCTION arrakis_claim(TEXT, BIGINT, BIGINT, TEXT, INTEGER, BIGINT)',
    CLAIM,
  ],
};
