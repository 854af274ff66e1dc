/**
 * The SQL of every job state transition and of the admission and claim hot paths, in one place.
 * Written once with `?` placeholders in the subset both SQLite and Postgres speak; `compileJobSql`
 * numbers the placeholders for Postgres and appends row locks where the database has them.
 * Each entry: what it does — (parameters) → what it returns.
 */
import type { Capabilities } from './capabilities.js';
import { JOB_EVENT_COLUMNS } from './job-event-row.js';
import { JOB_VIEW_COLUMNS } from './job-view-row.js';
import { modelPredicates } from './model-sql.js';

const JOB_COLUMNS = `id, account_id, user_id, status, priority, pool, cancel_requested, created_at, started_at,
  finished_at, workflow, template_name, inputs, inputs_ready, webhook_url, metadata, progress, outputs, error,
  attempts, worker_id, lease_expires_at, idempotency_key, models`;

const ACCOUNT_COLUMNS = `id, name, max_active_jobs_per_user, max_active_jobs, submit_rate_per_user,
  submit_burst_per_user, jwt, node_allowlist, file_node_allowlist, allowed_pools, webhook_secret,
  webhook_secret_previous, webhook_secret_previous_until, created_at`;

/** The claims that count against the retry limit: a voluntary release's claim is refunded (migration 012). */
const SPENT = 'attempts - refunded_attempts';

const GIVE_BACK = `UPDATE jobs SET
    status = CASE WHEN cancel_requested = 1 THEN 'cancelled' WHEN ${SPENT} >= ? THEN 'failed' ELSE 'queued' END,
    error = CASE WHEN cancel_requested = 0 AND ${SPENT} >= ? THEN ? ELSE NULL END,
    finished_at = CASE WHEN cancel_requested = 1 OR ${SPENT} >= ? THEN CAST(? AS BIGINT) ELSE NULL END,
    worker_id = NULL, lease_expires_at = NULL, progress = NULL, event_seq = event_seq + 1
    WHERE id = ? AND status = 'running'`;

/**
 * The lease a worker's give-back ends — (worker_id, started_before, started_before, lease_expires_at,
 * lease_expires_at): the worker's; when started_before is not NULL only one that began before it (a lost claim's
 * lease, not a later claim's); when lease_expires_at is not NULL only one still expiring then (not renewed since
 * it was read: a leftover prompt's silent lease).
 */
const HELD_BY = `worker_id = ? AND (CAST(? AS BIGINT) IS NULL OR started_at < CAST(? AS BIGINT))
    AND (CAST(? AS BIGINT) IS NULL OR lease_expires_at = CAST(? AS BIGINT))`;

const START_JOB = `UPDATE jobs SET status = 'running', worker_id = ?, lease_expires_at = ?,
    attempts = attempts + 1, started_at = ?, claim_id = ?, progress = NULL, event_seq = event_seq + 1`;

/** Restricts a pick to jobs affinity has not passed over. */
const UNPASSED = 'AND j.affinity_passed_at IS NULL';

function pickAtLevelSql(extra: string): string {
  return `SELECT j.id, j.models, j.affinity_passed_at FROM jobs j LEFT JOIN workers w ON w.id = ?
    WHERE j.status = 'queued' AND j.inputs_ready = 1 AND j.pool = ? ${extra}
      AND EXISTS (SELECT 1 FROM user_counters uc
        WHERE uc.account_id = j.account_id AND uc.user_id = j.user_id AND uc.running = ?)
      AND {ELIGIBLE}
    ORDER BY j.priority DESC, j.created_at, j.id LIMIT 1 {LOCK_J}`;
}

function pickAnySql(extra: string): string {
  return `SELECT j.id, j.models, j.affinity_passed_at FROM jobs j
    LEFT JOIN user_counters uc ON uc.account_id = j.account_id AND uc.user_id = j.user_id
    LEFT JOIN workers w ON w.id = ?
    WHERE j.status = 'queued' AND j.inputs_ready = 1 AND j.pool = ? ${extra} AND {ELIGIBLE}
    ORDER BY COALESCE(uc.running, 0), j.priority DESC, j.created_at, j.id LIMIT 1 {LOCK_J}`;
}

/** For each name in `names`, the queue head of jobs whose first file has that name (at the level, of the
 *  tier); then the best of those heads. A job of tier 0 or 1 has its first file among the worker's names, so
 *  no candidate is missed; the order is the fair order within a level. `TIER <= ?` is `TIER = ?` here (a lower
 *  tier had no job at any level) and tells Postgres's planner most rows of a name pass (see migration 009). */
function headAtLevelSql(names: string): string {
  return `SELECT c.id FROM (${names}) n JOIN jobs c ON c.id = (SELECT j.id FROM jobs j
      LEFT JOIN workers w ON w.id = ?
      WHERE j.status = 'queued' AND j.inputs_ready = 1 AND j.pool = ? AND j.models <> '[]' AND {KEY} = n.value AND j.id <> ?
        AND EXISTS (SELECT 1 FROM user_counters uc
          WHERE uc.account_id = j.account_id AND uc.user_id = j.user_id AND uc.running = ?)
        AND {ELIGIBLE} AND {TIER} <= ?
      ORDER BY j.priority DESC, j.created_at, j.id LIMIT 1)
    ORDER BY c.priority DESC, c.created_at, c.id LIMIT 1 {LOCK_C}`;
}

const TEMPLATES = {
  /** Idempotency lookup — (account_id, user_id, key) → job columns + request_hash. */
  findByIdempotencyKey: `SELECT ${JOB_COLUMNS}, request_hash FROM jobs
    WHERE account_id = ? AND user_id = ? AND idempotency_key = ?`,

  /** Account counter +1 only below its limit, taken last in the admission so the row lock that serialises
   *  one account's admissions on Postgres is held only until commit — (account_id) → active_jobs, or no row
   *  when the account is full (or unknown). */
  accountAdmit: `UPDATE accounts SET active_jobs = active_jobs + 1
    WHERE id = ? AND active_jobs < max_active_jobs RETURNING active_jobs`,

  /** Limits for a rejection message — (account_id) → max_active_jobs, max_active_jobs_per_user. */
  accountLimits: `SELECT max_active_jobs, max_active_jobs_per_user FROM accounts WHERE id = ?`,

  /** User counter +1 only below the account's per-user limit, creating the row at 1 (when the limit allows
   *  one) — (user_id, account_id, account_id) → active, or no row when the user is at the limit. */
  userAdmit: `INSERT INTO user_counters (account_id, user_id, active, running)
    SELECT id, ?, 1, 0 FROM accounts WHERE id = ? AND max_active_jobs_per_user >= 1
    ON CONFLICT (account_id, user_id) DO UPDATE SET active = user_counters.active + 1
    WHERE user_counters.active < (SELECT a.max_active_jobs_per_user FROM accounts a WHERE a.id = ?)
    RETURNING active`,

  /** New queued job — (id, account_id, user_id, priority, pool, created_at, workflow, template_name, inputs,
   *  inputs_ready, webhook_url, metadata, idempotency_key, request_hash, models) → nothing. */
  insertJob: `INSERT INTO jobs (id, account_id, user_id, status, priority, pool, cancel_requested, created_at,
    workflow, template_name, inputs, inputs_ready, webhook_url, metadata, outputs, attempts, idempotency_key,
    request_hash, event_seq, models)
    VALUES (?, ?, ?, 'queued', ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, '[]', 0, ?, ?, 0, ?)`,

  /** Postgres only (caps.serverFunctions): the whole admission in one statement, see migration 004
   *  — (the insertJob parameters) → the earlier job of the idempotency key, or no row when admitted. */
  admitFunction: `SELECT * FROM arrakis_admit(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,

  /** Postgres only (caps.serverFunctions): rate tokens, then arrakis_admit, in one statement, see migration 007
   *  — (the insertJob parameters, bucket keys[], rates[], bursts[]) → as admitFunction; AR002 when rate limited. */
  admitRatedFunction: `SELECT * FROM arrakis_admit_rated(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,

  /** Postgres only (caps.serverFunctions): admitRatedFunction, with each bucket's level right after this
   *  statement's take beside its answer (for the submit gate's mirror, bucket-mirror.ts): the level the
   *  statement's snapshot holds, refilled to now (as the function refills), less the token. The snapshot is
   *  the calling query's, taken before the function ran, and a function's writes are not visible to the query
   *  that calls it, so this is the level the take started from — (now, keys[], rates[], bursts[], then the
   *  admitRatedFunction parameters; the keys distinct, as submitBuckets builds them: a key named twice would
   *  report one take) → exactly one row: bucket_levels, in the keys' order, and the earlier
   *  job of the idempotency key (its columns all null when admitted); AR002 when rate limited. */
  admitRatedLevels: `SELECT b.bucket_levels, r.* FROM (SELECT ARRAY(
      SELECT COALESCE(LEAST(k.burst, rb.tokens + GREATEST(CAST(? AS BIGINT) - rb.updated_at, 0) * k.rate / 1000.0),
          k.burst) - 1
        FROM unnest(CAST(? AS TEXT[]), CAST(? AS DOUBLE PRECISION[]), CAST(? AS DOUBLE PRECISION[]))
          WITH ORDINALITY AS k(key, rate, burst, ord)
        LEFT JOIN rate_buckets rb ON rb.key = k.key
        ORDER BY k.ord) AS bucket_levels) b
    LEFT JOIN LATERAL arrakis_admit_rated(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) r ON true`,

  /** Postgres only (caps.serverFunctions): the run's last progress (newProgressHeld and its event, when
   *  given and new), finishRunning and its settlement (the `output` events, then `done`) in one statement for
   *  a job without a webhook, see migration 013 — (status, outputs, error, finished_at, id, worker_id, done
   *  event data, output event data[], progress or null) → job + event_seq + progress_seq (the seq of the
   *  `progress` event it wrote, null when none), or no row and nothing recorded (lost, or the job has a webhook). */
  finishRunningFunction: `SELECT (r.job).*, r.progress_seq
    FROM arrakis_finish_running_progress(?, ?, ?, ?, ?, ?, ?, ?, ?) AS r`,

  /** Postgres only (caps.serverFunctions): claimNext in one statement, see migrations 009 and 014 (the claim's
   *  id), with the claimed job's account's file_node_allowlist as it stands when the statement starts (the run
   *  needs it, and it is read at every claim so a revocation holds from the next one)
   *  — (worker_id, lease_expires_at, started_at, pool, max_levels, affinity_ms, claim_id) → job + event_seq +
   *  file_node_allowlist, or no row. */
  claimFunction: `SELECT c.*,
      (SELECT a.file_node_allowlist FROM accounts a WHERE a.id = c.account_id) AS file_node_allowlist
    FROM arrakis_claim_as(?, ?, ?, ?, ?, ?, ?) AS c`,

  /** Whether any job is claimable at all, by any worker of any pool (one seek of the jobs_claimable index): a
   *  claim's first look, outside its write transaction — () → one row, or none. */
  anyClaimable: `SELECT 1 AS one FROM jobs WHERE status = 'queued' AND inputs_ready = 1 LIMIT 1`,

  /** The next running-count above `after` among users who have queued jobs (one index seek)
   *  — (after) → running, null when there is none. */
  nextWaitingLevel: `SELECT MIN(running) AS running FROM user_counters WHERE active > running AND running > ?`,

  /** The best job the worker can load among users running exactly `level` jobs (the pick skips rows another
   *  replica has locked) — (worker_id, pool, level) → id, models, affinity_passed_at, or no row. */
  pickAtLevel: pickAtLevelSql(''),

  /** The same among jobs affinity has not passed over yet: with affinity on, the job plain fair order would
   *  give this claim (the passed-over ones count as given) — (worker_id, pool, level) → as pickAtLevel. */
  pickAtLevelUnpassed: pickAtLevelSql(UNPASSED),

  /** The same by the full fairness order (fallback when counters moved under us)
   *  — (worker_id, pool) → id, models, affinity_passed_at, or no row. */
  pickAny: pickAnySql(''),

  /** pickAny among jobs affinity has not passed over yet — (worker_id, pool) → as pickAny. */
  pickAnyUnpassed: pickAnySql(UNPASSED),

  /** Affinity's bound: the fairest job the worker can load that affinity passed over at or before the given
   *  time (now - bound) — (worker_id, pool, passed at or before) → id, or no row. */
  pickOverdue: `SELECT j.id FROM jobs j
    LEFT JOIN user_counters uc ON uc.account_id = j.account_id AND uc.user_id = j.user_id
    LEFT JOIN workers w ON w.id = ?
    WHERE j.status = 'queued' AND j.inputs_ready = 1 AND j.pool = ?
      AND j.affinity_passed_at IS NOT NULL AND j.affinity_passed_at <= ? AND {ELIGIBLE}
    ORDER BY COALESCE(uc.running, 0), j.priority DESC, j.created_at, j.id LIMIT 1 {LOCK_J}`,

  /** Affinity, tier 0: among users running exactly `level` jobs, the best job all of whose files the worker
   *  holds in VRAM, other than the due job. One index seek per name the worker holds (migration 009's
   *  per-model queue index), not a scan of the queue
   *  — (worker_id, worker_id, pool, due id, level, 0) → id, or no row. */
  pickWarmHead: headAtLevelSql('{WARM_NAMES}'),

  /** The same for tier 1 (every file in VRAM or on its disk)
   *  — (worker_id ×3, worker_id, pool, due id, level, 1) → id, or no row. */
  pickHeldHead: headAtLevelSql('{HELD_NAMES}'),

  /** How far job's files are from the worker: 0 all in VRAM, 1 all on its disk, 2 a fetch
   *  — (worker_id, job id) → tier. */
  pickTier: `SELECT {TIER} AS tier FROM jobs j LEFT JOIN workers w ON w.id = ? WHERE j.id = ?`,

  /** Affinity by the full order (fallback when the level walk of pickWarmHead/pickHeldHead runs long): the
   *  fairest job, other than the due one, the worker can load and holds closer than `tier`
   *  — (worker_id, pool, due id, tier) → id, or no row. */
  pickAffinity: `SELECT j.id FROM jobs j
    LEFT JOIN user_counters uc ON uc.account_id = j.account_id AND uc.user_id = j.user_id
    LEFT JOIN workers w ON w.id = ?
    WHERE j.status = 'queued' AND j.inputs_ready = 1 AND j.pool = ?
      AND j.models <> '[]' AND j.id <> ? AND {ELIGIBLE} AND {TIER} < ?
    ORDER BY {TIER}, COALESCE(uc.running, 0), j.priority DESC, j.created_at, j.id LIMIT 1 {LOCK_J}`,

  /** Records when affinity first passed over a fair pick — (now, id) → nothing. */
  markPassed: `UPDATE jobs SET affinity_passed_at = COALESCE(affinity_passed_at, CAST(? AS BIGINT)) WHERE id = ?`,

  /** queued → running for the picked job — (worker_id, lease_expires_at, started_at, claim_id, id)
   *  → job + event_seq. */
  startPicked: `${START_JOB} WHERE status = 'queued' AND id = ? RETURNING ${JOB_COLUMNS}, event_seq`,

  /** running → completed|failed, or → cancelled when a cancel was accepted first; takes one event seq for the
   *  `done` event plus, unless cancelled, `output_events` seqs before it (one per `output` event)
   *  — (status, outputs, error, finished_at, output_events, id, worker_id) → job + event_seq (the `done` seq). */
  finishRunning: `UPDATE jobs SET
    status = CASE WHEN cancel_requested = 1 THEN 'cancelled' ELSE ? END,
    outputs = CASE WHEN cancel_requested = 1 THEN outputs ELSE ? END,
    error = CASE WHEN cancel_requested = 1 THEN NULL ELSE ? END,
    finished_at = ?, lease_expires_at = NULL,
    event_seq = event_seq + 1 + CASE WHEN cancel_requested = 1 THEN 0 ELSE ? END
    WHERE id = ? AND status = 'running' AND worker_id = ? RETURNING ${JOB_COLUMNS}, event_seq`,

  /** running + cancel_requested → cancelled — (finished_at, id, worker_id) → job + event_seq. */
  finishCancel: `UPDATE jobs SET status = 'cancelled', finished_at = ?, lease_expires_at = NULL,
    event_seq = event_seq + 1
    WHERE id = ? AND status = 'running' AND worker_id = ? AND cancel_requested = 1
    RETURNING ${JOB_COLUMNS}, event_seq`,

  /** Gives a running job back (its worker said so): → cancelled (cancel requested), → failed (attempts spent:
   *  claims less refunds), else → queued — (max_attempts, max_attempts, error, max_attempts, finished_at, id,
   *  worker_id, started_before, started_before, lease_expires_at, lease_expires_at) → job + event_seq. */
  giveBackByWorker: `${GIVE_BACK} AND ${HELD_BY} RETURNING ${JOB_COLUMNS}, event_seq`,

  /** A voluntary give-back does not spend an attempt: it is refunded, and `attempts` keeps its number, so no
   *  later claim runs under it again — (id, worker_id, started_before, started_before, lease_expires_at,
   *  lease_expires_at); run before giveBackByWorker in one tx. */
  refundAttempt: `UPDATE jobs SET refunded_attempts = refunded_attempts + 1
    WHERE id = ? AND status = 'running' AND ${HELD_BY}`,

  /** The same when the lease expired, compare-and-set on the expired lease value so two sweepers act once
   *  — (max_attempts, max_attempts, error, max_attempts, finished_at, id, lease_expires_at) → job + event_seq. */
  giveBackByLease: `${GIVE_BACK} AND lease_expires_at = ? RETURNING ${JOB_COLUMNS}, event_seq`,

  /** Running jobs whose lease ran out — (now) → id, lease_expires_at. */
  expiredLeases: `SELECT id, lease_expires_at FROM jobs WHERE status = 'running' AND lease_expires_at < ?
    ORDER BY lease_expires_at, id LIMIT 500`,

  /** queued → cancelled — (finished_at, id) → job + event_seq. */
  cancelQueued: `UPDATE jobs SET status = 'cancelled', cancel_requested = 1, finished_at = ?,
    event_seq = event_seq + 1 WHERE id = ? AND status = 'queued' RETURNING ${JOB_COLUMNS}, event_seq`,

  /** Marks a running job cancel-requested — (id) → job + event_seq. */
  requestCancelRunning: `UPDATE jobs SET cancel_requested = 1, event_seq = event_seq + 1
    WHERE id = ? AND status = 'running' RETURNING ${JOB_COLUMNS}, event_seq`,

  /** queued → failed (input fetch failed) — (error, finished_at, id) → job + event_seq. */
  failQueued: `UPDATE jobs SET status = 'failed', error = ?, finished_at = ?, fetch_lease_owner = NULL,
    event_seq = event_seq + 1 WHERE id = ? AND status = 'queued' RETURNING ${JOB_COLUMNS}, event_seq`,

  /** A job the caller owns — (id, account_id, user_id) → job columns. */
  jobForOwner: `SELECT ${JOB_COLUMNS} FROM jobs WHERE id = ? AND account_id = ? AND user_id = ?`,

  /** The public view of a job the caller owns — (id, account_id, user_id) → JOB_VIEW_COLUMNS. */
  jobViewForOwner: `SELECT ${JOB_VIEW_COLUMNS} FROM jobs WHERE id = ? AND account_id = ? AND user_id = ?`,

  /** The status of a job the caller owns (an event stream's open) — (id, account_id, user_id) → status. */
  jobStatusForOwner: `SELECT status FROM jobs WHERE id = ? AND account_id = ? AND user_id = ?`,

  /** The outputs of a job the caller owns (an output download) — (id, account_id, user_id) → outputs. */
  jobOutputsForOwner: `SELECT outputs FROM jobs WHERE id = ? AND account_id = ? AND user_id = ?`,

  /** A job by id — (id) → job columns. */
  jobById: `SELECT ${JOB_COLUMNS} FROM jobs WHERE id = ?`,

  /** Who holds a job — (id) → status, worker_id, attempts, cancel_requested. */
  jobLease: `SELECT status, worker_id, attempts, cancel_requested FROM jobs WHERE id = ?`,

  /** The jobs a worker holds — (worker_id) → id, oldest claim first. */
  runningJobsOfWorker: `SELECT id FROM jobs WHERE status = 'running' AND worker_id = ? ORDER BY started_at, id`,

  /** A job's attempts and outputs — (id) → status, attempts, outputs. */
  jobOutputKeys: `SELECT status, attempts, outputs FROM jobs WHERE id = ?`,

  /** User's running count +1 on a claim — (account_id, user_id) → nothing. */
  userRunningUp: `UPDATE user_counters SET running = running + 1 WHERE account_id = ? AND user_id = ?`,

  /** User's running count -1 on a requeue — (account_id, user_id) → nothing. */
  userRunningDown: `UPDATE user_counters SET running = CASE WHEN running > 0 THEN running - 1 ELSE 0 END
    WHERE account_id = ? AND user_id = ?`,

  /** Account counter -1 on a terminal transition, never below zero — (account_id) → nothing. */
  accountRelease: `UPDATE accounts SET active_jobs = active_jobs - 1 WHERE id = ? AND active_jobs > 0`,

  /** User counters on a terminal transition: active -1, running -was_running (0|1), never below zero
   *  — (was_running, account_id, user_id) → nothing. */
  userRelease: `UPDATE user_counters SET active = CASE WHEN active > 0 THEN active - 1 ELSE 0 END,
    running = CASE WHEN running > 0 THEN running - ? ELSE 0 END WHERE account_id = ? AND user_id = ?`,

  /** Whether an account's webhook endpoint was disabled by a 410 — (account_id, url) → one row or none. */
  endpointDisabled: `SELECT 1 AS disabled FROM webhook_disabled_endpoints WHERE account_id = ? AND url = ?`,

  /** Enqueues a webhook delivery — (id, account_id, job_id, url, event_type, payload, next_attempt_at,
   *  created_at) → nothing. */
  insertDelivery: `INSERT INTO webhook_deliveries (id, account_id, job_id, url, event_type, payload, status,
    attempts, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)`,

  /** Appends one job event with a seq the caller took from jobs.event_seq — (job_id, seq, type, data, at). */
  insertEvent: `INSERT INTO job_events (job_id, seq, type, data, at) VALUES (?, ?, ?, ?, ?)`,

  /** A job's events after a seq, in order (the SSE catch-up after each bus message)
   *  — (job_id, after_seq) → JOB_EVENT_COLUMNS. after_seq is a client's Last-Event-ID (up to 12 digits): a
   *  BIGINT, or Postgres would fail comparing it with the INTEGER seq. */
  eventsAfter: `SELECT ${JOB_EVENT_COLUMNS} FROM job_events WHERE job_id = ? AND seq > CAST(? AS BIGINT)
    ORDER BY seq`,

  /** The last event seq of each job among the ids in a JSON array (the SSE safety poll: the seq every event
   *  insert takes, written in the same transaction) — (ids as a JSON array text) → id, event_seq; no row for
   *  an id that names no job. One text for any number of ids: one prepared statement. */
  eventSeqs: `SELECT id, event_seq FROM jobs WHERE id IN ({JSON_TEXTS})`,

  /** Records a running job's progress while `worker_id` holds it and takes its event's seq — (progress, id,
   *  worker_id) → event_seq, or no row when the worker does not hold the job. */
  progressHeld: `UPDATE jobs SET progress = ?, event_seq = event_seq + 1
    WHERE id = ? AND status = 'running' AND worker_id = ? RETURNING event_seq`,

  /** progressHeld unless the job's progress is already this one (a completion retried after its first try
   *  recorded it) — (progress, id, worker_id, progress) → event_seq, or no row. */
  newProgressHeld: `UPDATE jobs SET progress = ?, event_seq = event_seq + 1
    WHERE id = ? AND status = 'running' AND worker_id = ? AND (progress IS NULL OR progress <> ?)
    RETURNING event_seq`,

  /** A worker's status, stamping last_seen_at, ready_at on its first ready status and stopped_at on a stop —
   *  (status, now, ready 0|1, now, stopped 0|1, now, id) → nothing. */
  workerStatus: `UPDATE workers SET status = ?, last_seen_at = ?,
    ready_at = CASE WHEN CAST(? AS INTEGER) = 1 THEN COALESCE(ready_at, CAST(? AS BIGINT)) ELSE ready_at END,
    stopped_at = CASE WHEN CAST(? AS INTEGER) = 1 THEN CAST(? AS BIGINT) ELSE stopped_at END
    WHERE id = ?`,

  /** An account's row — (id) → the columns toAccount reads, or none. Named, not `*`: Postgres refuses to run a
   *  prepared statement whose result columns changed (a newer replica's migration adding one to accounts). */
  accountById: `SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE id = ?`,

  /** An account's file-node allowlist, read at every claim — (id) → file_node_allowlist, or none. */
  accountFileNodeAllowlist: `SELECT file_node_allowlist FROM accounts WHERE id = ?`,

  /** Takes the next event seq of a job — (id) → event_seq. */
  nextEventSeq: `UPDATE jobs SET event_seq = event_seq + 1 WHERE id = ? RETURNING event_seq`,

  /**
   * Takes one token from a bucket, creating it full: refilled from its last update, capped at the burst.
   * (key, burst, now, rate, rate, rate, rate) → tokens left, or no row when the bucket holds less than one.
   */
  takeBucketToken: `INSERT INTO rate_buckets (key, tokens, updated_at)
    VALUES (?, CAST(? AS DOUBLE PRECISION) - 1, CAST(? AS BIGINT))
    ON CONFLICT (key) DO UPDATE SET
      tokens = (CASE WHEN rate_buckets.tokens + (CASE WHEN excluded.updated_at > rate_buckets.updated_at THEN excluded.updated_at - rate_buckets.updated_at ELSE 0 END) * CAST(? AS DOUBLE PRECISION) / 1000.0 > excluded.tokens + 1 THEN excluded.tokens + 1 ELSE rate_buckets.tokens + (CASE WHEN excluded.updated_at > rate_buckets.updated_at THEN excluded.updated_at - rate_buckets.updated_at ELSE 0 END) * CAST(? AS DOUBLE PRECISION) / 1000.0 END) - 1,
      updated_at = CASE WHEN excluded.updated_at > rate_buckets.updated_at THEN excluded.updated_at ELSE rate_buckets.updated_at END
    WHERE (CASE WHEN rate_buckets.tokens + (CASE WHEN excluded.updated_at > rate_buckets.updated_at THEN excluded.updated_at - rate_buckets.updated_at ELSE 0 END) * CAST(? AS DOUBLE PRECISION) / 1000.0 > excluded.tokens + 1 THEN excluded.tokens + 1 ELSE rate_buckets.tokens + (CASE WHEN excluded.updated_at > rate_buckets.updated_at THEN excluded.updated_at - rate_buckets.updated_at ELSE 0 END) * CAST(? AS DOUBLE PRECISION) / 1000.0 END) >= 1
    RETURNING tokens`,

  /** A bucket's stored level — (key) → tokens, updated_at. */
  bucketLevel: `SELECT tokens, updated_at FROM rate_buckets WHERE key = ?`,

  /** Gives back a token taken in this transaction when a later bucket refused — (key). */
  refundBucketToken: `UPDATE rate_buckets SET tokens = tokens + 1 WHERE key = ?`,
} as const;

export type JobSql = { readonly [K in keyof typeof TEMPLATES]: string };

/** Rewrites `?` to `$1, $2, ...` (the texts hold no `?` inside literals). */
function numberPlaceholders(text: string): string {
  let n = 0;
  return text.replace(/\?/g, () => `$${++n}`);
}

/** The statements for one database, built once per store. */
export function compileJobSql(caps: Capabilities): JobSql {
  const lock = caps.rowLocks ? 'FOR UPDATE SKIP LOCKED' : '';
  const models = modelPredicates(caps);
  // The strings of a JSON array given as one text parameter, one per row.
  const jsonTexts =
    caps.jsonArrays === 'json_array_elements'
      ? 'SELECT json_array_elements_text(CAST(? AS json))'
      : 'SELECT value FROM json_each(?)';
  const out: Record<string, string> = {};
  for (const [name, text] of Object.entries(TEMPLATES)) {
    const full = text
      .replace('{LOCK}', lock)
      .replace('{LOCK_J}', caps.rowLocks ? 'FOR UPDATE OF j SKIP LOCKED' : '')
      .replace('{LOCK_C}', caps.rowLocks ? 'FOR UPDATE OF c SKIP LOCKED' : '')
      .replace('{WARM_NAMES}', models.warmNames)
      .replace('{HELD_NAMES}', models.heldNames)
      .replace('{KEY}', models.key)
      .replace('{ELIGIBLE}', models.eligible)
      .replaceAll('{TIER}', models.tier)
      .replace('{JSON_TEXTS}', jsonTexts);
    out[name] = caps.numberedParams ? numberPlaceholders(full) : full;
  }
  return out as JobSql;
}
