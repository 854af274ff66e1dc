/**
 * The fleet's model bookkeeping in the store instead of one process's memory:
 *   - `worker_prefetch_refused`: per worker, the prefetch files its agent gave up on and since when, so the
 *     model plan on any replica (and after a restart) asks it for other files; rows older than the refusal
 *     time (30 minutes) are ignored and swept.
 *   - each job's base model (verbs/fleet-model-demand.ts, `baseModel` in models/model-refs.ts: its first
 *     checkpoint or diffusion model, else its first file) in two columns, so the fleet's per-model demand is an
 *     aggregation in SQL rather than parsing every queued job's `models` JSON on the event loop. The database
 *     computes them from `models` as the job is inserted, so no admission path changes: Postgres as stored
 *     generated columns; SQLite (whose generated columns cannot read a JSON array element by element) by a
 *     trigger, and this migration fills them for earlier jobs.
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
const PG_BASE = `COALESCE(jsonb_path_query_first(CAST(models AS jsonb),
    '$[*] ? (@.kind == "checkpoint" || @.kind == "unet")'), CAST(models AS jsonb) -> 0)`;

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
      base_model_name = json_extract(${SQLITE_BASE}, '$.name') WHERE models <> '[]'`,
    `CREATE TRIGGER jobs_base_model AFTER INSERT ON jobs WHEN NEW.models <> '[]' BEGIN
      UPDATE jobs SET base_model_kind = json_extract(${SQLITE_BASE}, '$.kind'),
        base_model_name = json_extract(${SQLITE_BASE}, '$.name') WHERE id = NEW.id;
    END`,
    QUEUED_BASE,
  ],
  postgres: [
    REFUSED,
    `ALTER TABLE jobs
      ADD COLUMN base_model_kind TEXT GENERATED ALWAYS AS (${PG_BASE} ->> 'kind') STORED,
      ADD COLUMN base_model_name TEXT GENERATED ALWAYS AS (${PG_BASE} ->> 'name') STORED`,
    QUEUED_BASE,
  ],
};
