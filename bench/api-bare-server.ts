/**
 * bench/api-bare-server — the bare reference of bench/api.ts, in its own process: a minimal Fastify app doing
 * the same key lookup (sha256 + constant-time compare) and the same admission transaction (conditional counter
 * increments + insert) as the full server, with hand-written better-sqlite3 statements, nothing else.
 *
 *   forked by bench/api.ts: node --import tsx bench/api-bare-server.ts DIR
 *
 * The database lives in DIR. Ready and measured windows over IPC (bench/api-server-ipc.ts).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import Fastify from 'fastify';
import { BENCH_WORKFLOW as WORKFLOW, serveBenchWindows } from './api-server-ipc.js';

const dir = process.argv[2];
if (dir === undefined) throw new Error('usage: bench/api-bare-server.ts DIR');
const db = new Database(join(dir, 'bare.db'));
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.exec(`CREATE TABLE keys (id TEXT PRIMARY KEY, account_id TEXT, hash TEXT, revoked_at INTEGER);
  CREATE TABLE accounts (id TEXT PRIMARY KEY, active INTEGER NOT NULL, max_active INTEGER NOT NULL, per_user INTEGER NOT NULL);
  CREATE TABLE user_counters (account_id TEXT, user_id TEXT, active INTEGER NOT NULL, PRIMARY KEY (account_id, user_id));
  CREATE TABLE jobs (id TEXT PRIMARY KEY, account_id TEXT, user_id TEXT, status TEXT, workflow TEXT, created_at INTEGER);`);
const secret = randomBytes(32).toString('base64url');
const hash = createHash('sha256').update(secret).digest('hex');
db.prepare('INSERT INTO keys VALUES (?, ?, ?, NULL)').run('key1', 'acc1', hash);
db.prepare('INSERT INTO accounts VALUES (?, 0, ?, ?)').run('acc1', 10_000_000, 10_000_000);
const getKey = db.prepare<[string], { account_id: string; hash: string; revoked_at: number | null }>(
  'SELECT account_id, hash, revoked_at FROM keys WHERE id = ?',
);
const getJob = db.prepare<[string, string, string], Record<string, unknown>>(
  'SELECT * FROM jobs WHERE id = ? AND account_id = ? AND user_id = ?',
);
const incAccount = db.prepare('UPDATE accounts SET active = active + 1 WHERE id = ? AND active < max_active');
const incUser = db.prepare(
  `INSERT INTO user_counters VALUES (?, ?, 1) ON CONFLICT (account_id, user_id)
   DO UPDATE SET active = active + 1 WHERE active < (SELECT per_user FROM accounts WHERE id = excluded.account_id)`,
);
const insert = db.prepare('INSERT INTO jobs VALUES (?, ?, ?, ?, ?, ?)');
const admit = db.transaction((id: string, acct: string, user: string, wf: string) => {
  if (incAccount.run(acct).changes === 0) return false;
  if (incUser.run(acct, user).changes === 0) throw new Error('user limit');
  insert.run(id, acct, user, 'queued', wf, Date.now());
  return true;
});

/** The account of the presented key, or null. */
function auth(header: string | undefined): string | null {
  const presented = header?.slice(7) ?? '';
  const row = getKey.get('key1');
  if (row === undefined || row.revoked_at !== null) return null;
  const a = createHash('sha256').update(presented).digest();
  return timingSafeEqual(a, Buffer.from(row.hash, 'hex')) ? row.account_id : null;
}

const app = Fastify();
app.get<{ Params: { id: string } }>('/jobs/:id', async (req, reply) => {
  const acct = auth(req.headers.authorization);
  if (acct === null) return reply.code(401).send({});
  const job = getJob.get(req.params.id, acct, String(req.headers['x-user-id']));
  return job ?? reply.code(404).send({});
});
app.post('/jobs', async (req, reply) => {
  const acct = auth(req.headers.authorization);
  if (acct === null) return reply.code(401).send({});
  const id = `job_${randomBytes(10).toString('hex')}`;
  admit.immediate(
    id,
    acct,
    String(req.headers['x-user-id']),
    JSON.stringify((req.body as { workflow: unknown }).workflow),
  );
  return reply.code(202).send({ id, status: 'queued' });
});
const url = await app.listen({ host: '127.0.0.1', port: 0 });
admit.immediate('job_fixed', 'acc1', 'bench', '{}');
const headers = {
  authorization: `Bearer ${secret}`,
  'x-user-id': 'bench',
  'content-type': 'application/json',
};
serveBenchWindows(
  {
    get: { url: `${url}/jobs/job_fixed`, method: 'GET', headers },
    post: { url: `${url}/jobs`, method: 'POST', headers, body: JSON.stringify({ workflow: WORKFLOW }) },
  },
  async () => {
    await app.close();
    db.close();
  },
);
