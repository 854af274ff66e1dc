/**
 * The bare reference for bench/admission.ts: hand-written better-sqlite3 statements doing the same
 * conditional-increment admission and claim/complete as the store, synchronously, on the same schema.
 */
import { randomBytes } from 'node:crypto';
import type Database from 'better-sqlite3';

/** Admits then claims and completes `n` jobs; returns elapsed ms of each phase. */
export function runBareReference(
  db: Database.Database,
  n: number,
  users: number,
): { admitMs: number; cycleMs: number } {
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.prepare(
    `INSERT INTO accounts (id, name, max_active_jobs_per_user, max_active_jobs, submit_rate_per_user,
     submit_burst_per_user, webhook_secret, created_at) VALUES ('a', 'ref', 10000000, 10000000, 5, 10, 'x', 0)`,
  ).run();
  const accountUp = db.prepare(
    `UPDATE accounts SET active_jobs = active_jobs + 1 WHERE id = ? AND active_jobs < max_active_jobs
     RETURNING max_active_jobs_per_user`,
  );
  const userUp = db.prepare(
    `INSERT INTO user_counters (account_id, user_id, active, running) VALUES (?, ?, 1, 0)
     ON CONFLICT (account_id, user_id) DO UPDATE SET active = user_counters.active + 1
     WHERE user_counters.active < ? RETURNING active`,
  );
  const insert = db.prepare(
    `INSERT INTO jobs (id, account_id, user_id, status, priority, created_at, workflow, inputs, inputs_ready,
     metadata, outputs) VALUES (?, 'a', ?, 'queued', 0, ?, ?, '[]', 1, '{}', '[]')`,
  );
  const workflow = JSON.stringify({ '1': { class_type: 'EmptyImage', inputs: { width: 64, height: 64 } } });
  const admit = db.transaction((i: number) => {
    const acc = accountUp.get('a') as { max_active_jobs_per_user: number } | undefined;
    if (acc === undefined) throw new Error('full');
    if (userUp.get('a', `u${i % users}`, acc.max_active_jobs_per_user) === undefined)
      throw new Error('user full');
    insert.run(`job_${randomBytes(10).toString('hex')}`, `u${i % users}`, Date.now(), workflow);
  });
  let t = performance.now();
  for (let i = 0; i < n; i++) admit.immediate(i);
  const admitMs = performance.now() - t;

  const pick = db.prepare(
    `SELECT id, account_id, user_id FROM jobs WHERE status = 'queued' AND inputs_ready = 1
     ORDER BY priority DESC, created_at, id LIMIT 1`,
  );
  const start = db.prepare(
    `UPDATE jobs SET status = 'running', worker_id = ?, lease_expires_at = ?, attempts = attempts + 1,
     started_at = ? WHERE id = ? AND status = 'queued' RETURNING *`,
  );
  const runUp = db.prepare(
    `UPDATE user_counters SET running = running + 1 WHERE account_id = ? AND user_id = ?`,
  );
  const finish = db.prepare(
    `UPDATE jobs SET status = 'completed', outputs = '[]', finished_at = ? WHERE id = ? AND status = 'running'
     AND worker_id = ? RETURNING *`,
  );
  const accDown = db.prepare(
    `UPDATE accounts SET active_jobs = active_jobs - 1 WHERE id = ? AND active_jobs > 0`,
  );
  const userDown = db.prepare(
    `UPDATE user_counters SET active = active - 1, running = running - 1 WHERE account_id = ? AND user_id = ?`,
  );
  const claim = db.transaction(() => {
    const row = pick.get() as { id: string; account_id: string; user_id: string } | undefined;
    if (row === undefined) throw new Error('empty');
    start.get('w', Date.now() + 60_000, Date.now(), row.id);
    runUp.run(row.account_id, row.user_id);
    return row;
  });
  const complete = db.transaction((row: { id: string; account_id: string; user_id: string }) => {
    finish.get(Date.now(), row.id, 'w');
    accDown.run(row.account_id);
    userDown.run(row.account_id, row.user_id);
  });
  t = performance.now();
  for (let i = 0; i < n; i++) complete.immediate(claim.immediate());
  return { admitMs, cycleMs: performance.now() - t };
}
