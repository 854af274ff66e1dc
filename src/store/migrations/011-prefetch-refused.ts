/**
 * The fleet's model bookkeeping in the store instead of one process's memory:
 *   - `worker_prefetch_refused`: per worker, the prefetch files its agent gave up on and since when, so the
 *     model plan on any replica (and after a restart) asks it for other files; rows older than the refusal
 *     time (30 minutes) are ignored and swept.
 *   - each job's base model (verbs/fleet-model-demand.ts, `baseModel` in models/model-refs.ts: its first
 *     checkpoint or diffusion model, else its first file) in two columns, so the fleet's per-model demand is an
 *     aggregation in SQL rather than parsing every queued job's `models` JSON on the event loop. The database
 *     computes them from `models` as the job is inserted, so no admission path changes: on Postgres a BEFORE
 *     INSERT trigger (`arrakis_job_base_model`; a stored generated column would rewrite the whole jobs table
 *     under an exclusive lock while the migration runs), on SQLite an AFTER INSERT trigger (its generated
 *     columns cannot read a JSON array element by element). This migration fills them for the earlier jobs
 *     the demand reads: queued ones and those admitted in the last day (older finished jobs keep NULL).
 * Append-only: never edit once landed.
 */
import type { Migration } from './migration.js';

const REFUSED = `CREATE TABLE worker_prefetch_refused (
    worker_id TEXT NOT NULL,
    name TEXT NOT NULL,
    refused_at BIGINT NOT NULL,
    PRIMARY KEY (worker_id, name)
  )`;

/** The queued jobs per pool and base model: the fleet's queued demand counted from the index alone. */
const QUEUED_BASE = `CREATE INDEX jobs_queued_base_model ON jobs (pool, base_model_kind, base_model_name)
  WHERE status = 'queued' AND base_model_name IS NOT NULL`;

/** The first element of the job's models of a base kind, else its first element (Postgres, as jsonb). */
function pgBase(models: string): string {
  return `COALESCE(jsonb_path_query_first(CAST(${models} AS jsonb),
    '$[*] ? (@.kind == "checkpoint" || @.kind == "unet")'), CAST(${models} AS jsonb) -> 0)`;
}

/** The earlier jobs the fleet's demand reads (queued, or admitted in the last day): the ones back-filled. */
const RECENT_PG = `(status = 'queued' OR created_at > CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT) - 86400000)`;
const RECENT_SQLITE = `(status = 'queued' OR created_at > CAST(unixepoch('subsec') * 1000 AS INTEGER) - 86400000)`;

/** The same on SQLite, as the JSON text of the element (for the back-fill of earlier jobs). */
const SQLITE_BASE = `(SELECT e.value FROM json_each(jobs.models) e
    ORDER BY json_extract(e.value, '$.kind') NOT IN ('checkpoint', 'unet'), e.key LIMIT 1)`;

export const migration011: Migration = {
  id: 11,
  name: 'prefetch-refused',
  sqlite: [
    REFUSED,
    `ALTER TABLE jobs ADD COLUMN base_model_kind TEXT`,
    `ALTER TABLE jobs ADD COLUMN base_model_name TEXT`,
    `UPDATE jobs SET base_model_kind = json_extract(${SQLITE_BASE}, '$.kind'),
      base_model_name = json_extract(${SQLITE_BASE}, '$.name') WHERE models <> '[]' AND ${RECENT_SQLITE}`,
    `CREATE TRIGGER jobs_base_model AFTER INSERT ON jobs WHEN NEW.models <> '[]' BEGIN
      UPDATE jobs SET base_model_kind = json_extract(${SQLITE_BASE}, '$.kind'),
        base_model_name = json_extract(${SQLITE_BASE}, '$.name') WHERE id = NEW.id;
    END`,
    QUEUED_BASE,
  ],
  postgres: [
    REFUSED,
    // Nullable columns without a default: a catalog change, no table rewrite.
    `ALTER TABLE jobs ADD COLUMN base_model_kind TEXT, ADD COLUMN base_model_name TEXT`,
    `CREATE FUNCTION arrakis_job_base_model() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      base jsonb := ${pgBase('NEW.models')};
    BEGIN
      NEW.base_model_kind := base ->> 'kind';
      NEW.base_model_name := base ->> 'name';
      RETURN NEW;
    END $$`,
    `CREATE TRIGGER jobs_base_model BEFORE INSERT ON jobs
      FOR EACH ROW WHEN (NEW.models <> '[]') EXECUTE FUNCTION arrakis_job_base_model()`,
    `UPDATE jobs SET base_model_kind = ${pgBase('models')} ->> 'kind',
      base_model_name = ${pgBase('models')} ->> 'name'
      WHERE models <> '[]' AND ${RECENT_PG}`,
    QUEUED_BASE,
  ],
};
