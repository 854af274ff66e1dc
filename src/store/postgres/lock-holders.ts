/**
 * Who holds a table lock: the sessions other than this one with a granted lock on `table`, longest-running
 * first. Read after a migration gave up on that table's lock, so its error can name the session to end.
 */
import { z } from 'zod';
import { run, type Conn } from '../context.js';
import type { LockHolder } from '../migration-errors.js';

const HOLDERS = `SELECT a.pid, l.mode, COALESCE(a.state, '') AS state, COALESCE(a.query, '') AS query,
    CAST(EXTRACT(EPOCH FROM now() - COALESCE(a.xact_start, a.query_start, now())) * 1000 AS BIGINT) AS held_ms
  FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
  WHERE l.relation = to_regclass($1) AND l.granted AND l.pid <> pg_backend_pid()
  ORDER BY held_ms DESC LIMIT 3`;

const holderSchema = z.object({
  pid: z.number(),
  mode: z.string(),
  state: z.string(),
  query: z.string(),
  held_ms: z.number(),
});

/** At most three sessions holding a lock on `table` now; empty when none does (or the lookup fails). */
export async function lockHolders(conn: Conn, table: string): Promise<LockHolder[]> {
  try {
    const rows = await run(conn, HOLDERS, [table]);
    return rows.map((r) => {
      const h = holderSchema.parse(r);
      return { pid: h.pid, mode: h.mode, state: h.state, query: h.query, heldMs: h.held_ms };
    });
  } catch {
    return [];
  }
}
