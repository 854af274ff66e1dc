/**
 * The claim's model predicates over a job row `j` and its worker row `w` (LEFT JOINed, so null for a worker
 * that never registered). Names are compared as text; each side is a JSON array stored as text:
 * `j.models` is [{ kind, name }], the worker's columns are [name]. Mirrors migration 004's server function.
 */
import type { Capabilities } from './capabilities.js';

export interface ModelPredicates {
  /** The worker can load every file of j: it reported none (unknown), or each is on it or fetchable. */
  eligible: string;
  /** 0: every file of j is resident on the worker; 1: every file is on its disk; 2: something to fetch. */
  tier: string;
  /** The name of j's first model file (null for a job without one): the key of the per-model queue index of
   *  migration 009 — every file of a job the worker holds, the first included, is in the worker's lists. */
  key: string;
  /** The names the worker `?` holds in VRAM, one per row in column `value`. */
  warmNames: string;
  /** The names the worker holds in VRAM or on its disk (three `?`, each the worker id). */
  heldNames: string;
}

/** The predicates in this database's JSON functions. */
export function modelPredicates(caps: Capabilities): ModelPredicates {
  const pg = caps.jsonArrays === 'json_array_elements';
  const jobNames = pg
    ? `SELECT m ->> 'name' AS name FROM json_array_elements(CAST(j.models AS json)) m`
    : `SELECT json_extract(m.value, '$.name') AS name FROM json_each(j.models) m`;
  const names = (col: string): string =>
    pg ? `SELECT json_array_elements_text(CAST(w.${col} AS json))` : `SELECT value FROM json_each(w.${col})`;
  const notHeld = `jm.name NOT IN (${names('models_available')}) AND jm.name NOT IN (${names('models_on_disk')})`;
  const eligible = `(j.models = '[]' OR COALESCE(w.models_known, 0) = 0 OR NOT EXISTS (SELECT 1 FROM (${jobNames}) jm
    WHERE ${notHeld} AND NOT (w.model_fetch = 1 AND jm.name IN (SELECT f.name FROM model_files f))))`;
  const notWarm = `jm.name NOT IN (${names('models_warm')})`;
  const tier = `(CASE WHEN NOT EXISTS (SELECT 1 FROM (${jobNames}) jm WHERE ${notWarm}) THEN 0
    WHEN NOT EXISTS (SELECT 1 FROM (${jobNames}) jm WHERE ${notWarm} AND ${notHeld}) THEN 1 ELSE 2 END)`;
  const workerNames = (col: string): string =>
    pg
      ? `SELECT x.value FROM workers w2, json_array_elements_text(CAST(w2.${col} AS json)) AS x(value) WHERE w2.id = ?`
      : `SELECT x.value FROM workers w2, json_each(w2.${col}) x WHERE w2.id = ?`;
  const key = pg ? `(CAST(j.models AS json) -> 0 ->> 'name')` : `json_extract(j.models, '$[0].name')`;
  const warmNames = workerNames('models_warm');
  const heldNames = ['models_warm', 'models_available', 'models_on_disk'].map(workerNames).join(' UNION ');
  return { eligible, tier, key, warmNames, heldNames };
}
