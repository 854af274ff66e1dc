/**
 * A completion and the run's last progress in one statement on Postgres. Before, finishRunning committed the
 * last progress in a transaction of its own (BEGIN, newProgressHeld, insertEvent, COMMIT: four round trips) and
 * then called arrakis_finish_running (010); SQLite already records both in the completion's one commit.
 *
 * arrakis_finish_running_progress is 010's function with one more parameter, `p_progress` (the progress JSON
 * text, or NULL), recorded first, as verbs/transitions.ts finishRunning does on the transaction path:
 * `newProgressHeld` (not when the job's progress is already this one: a completion retried after its first try
 * recorded it adds no second event) and insertEvent `progress`, then 010's steps (the finishRunning CAS, one
 * insertEvent per output, settleTransition's terminal branch). The progress is recorded only where the CAS
 * then matches — running, held by the worker, no webhook — so a job with a webhook or a lost completion leaves
 * the function with nothing recorded and takes the transaction path, which records the progress in its own
 * commit there. Lock order as before: the jobs row (taken by the progress update), user_counters, accounts.
 *
 * It returns the job row (`job`, as 010's SETOF jobs row; the caller selects `(r.job).*`) beside
 * `progress_seq`: the seq of the `progress` event it wrote, or NULL when it wrote none (no progress given, or
 * the job already had it), so the caller can tell its bus message every event it appended (FinishResult.events).
 *
 * arrakis_finish_running stays: a replica of the previous release keeps calling it while this one runs beside
 * it (docs/operations.md, "Upgrading replicas"), so this migration can roll replica by replica. SQLite: nothing.
 * Append-only: never edit once landed; add the next number instead.
 */
import type { Migration } from './migration.js';

const FINISH_RUNNING_PROGRESS = `CREATE FUNCTION arrakis_finish_running_progress(
    p_status TEXT, p_outputs TEXT, p_error TEXT, p_finished_at BIGINT, p_id TEXT, p_worker_id TEXT,
    p_done_data TEXT, p_output_events TEXT[], p_progress TEXT)
  RETURNS TABLE (job jobs, progress_seq INTEGER) LANGUAGE plpgsql AS $fn$
DECLARE
  v_job jobs%ROWTYPE;
  v_n INTEGER := COALESCE(array_length(p_output_events, 1), 0);
  v_seq INTEGER;
BEGIN
  IF p_progress IS NOT NULL THEN
    UPDATE jobs SET progress = p_progress, event_seq = event_seq + 1
      WHERE id = p_id AND status = 'running' AND worker_id = p_worker_id AND webhook_url IS NULL
        AND (progress IS NULL OR progress <> p_progress)
      RETURNING event_seq INTO v_seq;
    IF FOUND THEN
      INSERT INTO job_events (job_id, seq, type, data, at) VALUES (p_id, v_seq, 'progress', p_progress, p_finished_at);
    END IF;
  END IF;
  UPDATE jobs SET
    status = CASE WHEN cancel_requested = 1 THEN 'cancelled' ELSE p_status END,
    outputs = CASE WHEN cancel_requested = 1 THEN outputs ELSE p_outputs END,
    error = CASE WHEN cancel_requested = 1 THEN NULL ELSE p_error END,
    finished_at = p_finished_at, lease_expires_at = NULL,
    event_seq = event_seq + 1 + CASE WHEN cancel_requested = 1 THEN 0 ELSE v_n END
    WHERE id = p_id AND status = 'running' AND worker_id = p_worker_id AND webhook_url IS NULL
    RETURNING * INTO v_job;
  IF NOT FOUND THEN RETURN; END IF;
  IF v_job.status = 'completed' THEN
    FOR i IN 1 .. v_n LOOP
      INSERT INTO job_events (job_id, seq, type, data, at)
        VALUES (v_job.id, v_job.event_seq - v_n + i - 1, 'output', p_output_events[i], p_finished_at);
    END LOOP;
  END IF;
  UPDATE user_counters SET active = CASE WHEN active > 0 THEN active - 1 ELSE 0 END,
    running = CASE WHEN running > 0 THEN running - 1 ELSE 0 END
    WHERE account_id = v_job.account_id AND user_id = v_job.user_id;
  INSERT INTO job_events (job_id, seq, type, data, at) VALUES (v_job.id, v_job.event_seq, 'done',
    CASE WHEN v_job.status = 'cancelled' THEN '{"status":"cancelled","error":null}' ELSE p_done_data END,
    p_finished_at);
  UPDATE accounts SET active_jobs = active_jobs - 1 WHERE id = v_job.account_id AND active_jobs > 0;
  job := v_job;
  progress_seq := v_seq;
  RETURN NEXT;
END
$fn$`;

export const migration013: Migration = {
  id: 13,
  name: 'finish-with-progress',
  sqlite: [],
  postgres: [FINISH_RUNNING_PROGRESS],
};
