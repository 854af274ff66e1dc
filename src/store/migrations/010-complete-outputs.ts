/**
 * A job's outputs are announced in its completion's commit. Before, the worker service appended one `output`
 * event per stored file (a commit each) and then completed the job (another commit); now the agent stores the
 * files first (storage only) and `completeJob` appends the `output` events, in output order, right before
 * `done`, in the same transaction as the terminal transition: no output of a job that did not complete is ever
 * in its event log, and a completion is one commit however many outputs it has.
 *
 * On Postgres arrakis_finish_running (002) is replaced by one that also takes the `output` events' data
 * (`p_output_events`, the JSON text of each, in output order): the CAS takes one seq per output event plus one
 * for `done` (none for the outputs when the job ends cancelled), the output events take the seqs before `done`.
 * It mirrors verbs/transitions.ts finishRunning: the finishRunning statement (its `output_events` count), one
 * insertEvent per output, then settleTransition's terminal branch (userRelease, insertEvent `done`,
 * accountRelease). SQLite runs the same steps in one transaction: a no-op there.
 *
 * The signature changes, so a replica of the previous release fails its completions from the moment this is
 * applied: replace every replica together (docs/store.md, "Upgrading replicas").
 * Append-only: never edit once landed; add the next number instead.
 */
import type { Migration } from './migration.js';

const FINISH_RUNNING = `CREATE FUNCTION arrakis_finish_running(
    p_status TEXT, p_outputs TEXT, p_error TEXT, p_finished_at BIGINT, p_id TEXT, p_worker_id TEXT,
    p_done_data TEXT, p_output_events TEXT[])
  RETURNS SETOF jobs LANGUAGE plpgsql AS $fn$
DECLARE
  v_job jobs%ROWTYPE;
  v_n INTEGER := COALESCE(array_length(p_output_events, 1), 0);
BEGIN
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
  RETURN NEXT v_job;
END
$fn$`;

export const migration010: Migration = {
  id: 10,
  name: 'complete-outputs',
  sqlite: [],
  postgres: [
    'DROP FUNCTION arrakis_finish_running(TEXT, TEXT, TEXT, BIGINT, TEXT, TEXT, TEXT)',
    FINISH_RUNNING,
  ],
};
