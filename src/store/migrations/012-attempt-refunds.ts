/**
 * Attempt numbers are never used twice for one job. Before this, a voluntary release (the worker is stopping)
 * gave its attempt back by decrementing `attempts`, so the next claim ran under the same number, and everything
 * keyed by it collided: the output object keys (`<attempt>.<seq>-…`), the output memory cache, the live-attempt
 * check of late uploads and ComfyUI prompt ids. Now `attempts` counts every claim, and `refunded_attempts`
 * counts the voluntary releases among them; the retry limit compares `attempts - refunded_attempts` (the
 * give-back statements of job-sql.ts), so the budget is what it was.
 *
 * No server function names the column (releases and lease expiries take the transaction path on both backends),
 * so none is recreated. On Postgres 11+ a NOT NULL column with a constant default is a catalog change, no table
 * rewrite; the functions that return `SETOF jobs` keep working on connections prepared before it. A replica of
 * the previous release keeps running beside this one: its voluntary releases still decrement `attempts` (the
 * old number reuse) and its give-backs ignore the refunds (such a job may fail one attempt early).
 * Append-only: never edit once landed.
 */
import type { Migration } from './migration.js';

const ADD = `ALTER TABLE jobs ADD COLUMN refunded_attempts INTEGER NOT NULL DEFAULT 0`;

export const migration012: Migration = {
  id: 12,
  name: 'attempt-refunds',
  sqlite: [ADD],
  postgres: [ADD],
};
