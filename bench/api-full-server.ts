/**
 * bench/api-full-server — the full server of bench/api.ts, in its own process: `arrakis serve`'s control plane
 * on SQLite (no workers) with an account, a key and one job to read, seeded over its own admin API.
 *
 *   forked by bench/api.ts: node --import tsx bench/api-full-server.ts DIR
 *
 * The database and objects live in DIR. Ready and measured windows over IPC (bench/api-server-ipc.ts).
 */
import { join } from 'node:path';
import { loadConfig } from '../src/config/load.js';
import { startControlPlane } from '../src/runtime/control-plane.js';
import { BENCH_WORKFLOW as WORKFLOW, serveBenchWindows, type Target } from './api-server-ipc.js';

const ADMIN = 'bench-admin-key-0123456789';

const dir = process.argv[2];
if (dir === undefined) throw new Error('usage: bench/api-full-server.ts DIR');
const config = loadConfig(
  {},
  {},
  {
    db: `sqlite:${join(dir, 'full.db')}`,
    storage: `file:${join(dir, 'objects')}`,
    port: 0,
    adminKey: ADMIN,
    logLevel: 'silent',
  },
);
const cp = await startControlPlane(config);
const admin = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
const acct = (await (
  await fetch(`${cp.url}/v1/admin/accounts`, {
    method: 'POST',
    headers: admin,
    body: JSON.stringify({
      name: 'bench',
      limits: {
        max_active_jobs_per_user: 100_000,
        max_active_jobs: 10_000_000,
        submit_rate_per_user: 100_000,
        submit_burst_per_user: 100_000,
      },
    }),
  })
).json()) as { id: string };
const key = (
  (await (
    await fetch(`${cp.url}/v1/admin/accounts/${acct.id}/keys`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ name: 'b' }),
    })
  ).json()) as { key: string }
).key;
const headers = {
  authorization: `Bearer ${key}`,
  'x-user-id': 'bench',
  'content-type': 'application/json',
};
const job = (await (
  await fetch(`${cp.url}/v1/jobs`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ workflow: WORKFLOW }),
  })
).json()) as { id: string };
const get: Target = { url: `${cp.url}/v1/jobs/${job.id}`, method: 'GET', headers };
const post: Target = {
  url: `${cp.url}/v1/jobs`,
  method: 'POST',
  headers,
  body: JSON.stringify({ workflow: WORKFLOW }),
};
serveBenchWindows({ get, post }, () => cp.close());
