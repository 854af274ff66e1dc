/**
 * The bare Postgres reference for bench/admission.ts: hand-written pg statements doing the same
 * conditional-increment admission (insert, user counter, account counter last) and claim/complete
 * (SKIP LOCKED pick) with `clients` concurrent connections, on the migrated schema.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

async function inTx(client: pg.PoolClient, fn: () => Promise<void>): Promise<void> {
  await client.query('BEGIN');
  try {
    await fn();
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  }
}

async function drive(
  pool: pg.Pool,
  n: number,
  clients: number,
  op: (c: pg.PoolClient, i: number) => Promise<void>,
): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      const c = await pool.connect();
      try {
        while (next < n) await op(c, next++);
      } finally {
        c.release();
      }
    }),
  );
  return performance.now() - started;
}

/** Admits then claims and completes `n` jobs; returns elapsed ms of each phase. */
export async function runBarePgReference(
  url: string,
  n: number,
  users: number,
  clients: number,
): Promise<{ admitMs: number; cycleMs: number }> {
  const pool = new pg.Pool({ connectionString: url, max: clients });
  pool.on('error', () => {});
  try {
    await pool.query(
      `INSERT INTO accounts (id, name, max_active_jobs_per_user, max_active_jobs, submit_rate_per_user,
       submit_burst_per_user, webhook_secret, created_at) VALUES ('ref', 'ref', 10000000, 10000000, 5, 10, 'x', 0)`,
    );
    const workflow = JSON.stringify({ '1': { class_type: 'EmptyImage', inputs: { width: 64, height: 64 } } });
    const admitMs = await drive(pool, n, clients, (c, i) =>
      inTx(c, async () => {
        const user = `r${i % users}`;
        await c.query({
          name: 'ref_insert',
          text: `INSERT INTO jobs (id, account_id, user_id, status, priority, created_at, workflow, inputs, inputs_ready,
                 metadata, outputs) VALUES ($1, 'ref', $2, 'queued', 0, $3, $4, '[]', 1, '{}', '[]')`,
          values: [`job_${randomBytes(10).toString('hex')}`, user, Date.now(), workflow],
        });
        await c.query({
          name: 'ref_user',
          text: `INSERT INTO user_counters (account_id, user_id, active, running) VALUES ('ref', $1, 1, 0)
                 ON CONFLICT (account_id, user_id) DO UPDATE SET active = user_counters.active + 1
                 WHERE user_counters.active < 10000000 RETURNING active`,
          values: [user],
        });
        await c.query({
          name: 'ref_account',
          text: `UPDATE accounts SET active_jobs = active_jobs + 1 WHERE id = 'ref' AND active_jobs < max_active_jobs
                 RETURNING active_jobs`,
        });
      }),
    );
    const cycleMs = await drive(pool, n, clients, async (c) => {
      let picked: { id: string; user_id: string } | undefined;
      await inTx(c, async () => {
        const r = await c.query<{ id: string; user_id: string }>({
          name: 'ref_claim',
          text: `UPDATE jobs SET status = 'running', worker_id = 'w', lease_expires_at = $1, attempts = attempts + 1,
                 started_at = $2 WHERE id = (SELECT id FROM jobs WHERE status = 'queued' AND inputs_ready = 1
                 ORDER BY priority DESC, created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id, user_id`,
          values: [Date.now() + 60_000, Date.now()],
        });
        picked = r.rows[0];
        if (picked === undefined) throw new Error('reference claim found nothing');
        await c.query({
          name: 'ref_run_up',
          text: `UPDATE user_counters SET running = running + 1 WHERE account_id = 'ref' AND user_id = $1`,
          values: [picked.user_id],
        });
      });
      const job = picked;
      if (job === undefined) return;
      await inTx(c, async () => {
        await c.query({
          name: 'ref_finish',
          text: `UPDATE jobs SET status = 'completed', outputs = '[]', finished_at = $1 WHERE id = $2
                 AND status = 'running' AND worker_id = 'w'`,
          values: [Date.now(), job.id],
        });
        await c.query({
          name: 'ref_user_down',
          text: `UPDATE user_counters SET active = active - 1, running = running - 1 WHERE account_id = 'ref' AND user_id = $1`,
          values: [job.user_id],
        });
        await c.query({
          name: 'ref_account_down',
          text: `UPDATE accounts SET active_jobs = active_jobs - 1 WHERE id = 'ref' AND active_jobs > 0`,
        });
      });
    });
    return { admitMs, cycleMs };
  } finally {
    await pool.end();
  }
}
