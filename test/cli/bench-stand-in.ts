/**
 * A stand-in Arrakis for the quota_burst fault: just enough of the admin and job API for `arrakis bench
 * --checks quota_burst`, admitting one job more than the account's per-user limit (the fault the check
 * exists to catch: the service Arrakis replaced admitted 6 against a limit of 5).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

interface StandIn {
  url: string;
  close(): Promise<void>;
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

function problem(
  res: ServerResponse,
  status: number,
  code: string,
  headers: Record<string, string> = {},
): void {
  send(
    res,
    status,
    { type: `https://arrakis.dev/errors/${code}`, title: code, status, code, detail: code },
    headers,
  );
}

async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
}

function job(id: string, status: string): Record<string, unknown> {
  const now = new Date().toISOString();
  return {
    id,
    status,
    user_id: 'u',
    created_at: now,
    started_at: null,
    finished_at: status === 'cancelled' ? now : null,
    queue_wait_s: null,
    run_time_s: null,
    total_time_s: null,
    cancel_requested: false,
    priority: 0,
    template: null,
    progress: null,
    outputs: [],
    error: null,
    metadata: {},
  };
}

/** Starts the stand-in on 127.0.0.1 (a free port). */
export async function startQuotaStandIn(): Promise<StandIn> {
  let limit = 5;
  let active = 0;
  let next = 0;
  const cancelled = new Set<string>();
  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const path = req.url ?? '';
      if (req.method === 'POST' && path === '/v1/admin/accounts') {
        const limits = {
          max_active_jobs_per_user: 5,
          max_active_jobs: 100,
          submit_rate_per_user: 5,
          submit_burst_per_user: 10,
          ...(body.limits as object),
        };
        limit = limits.max_active_jobs_per_user;
        return send(res, 201, {
          id: `acct_${++next}`,
          name: body.name,
          limits,
          jwt: null,
          node_allowlist: null,
          file_node_allowlist: [],
          allowed_pools: null,
          created_at: new Date().toISOString(),
          webhook_secret: 'whsec_c3RhbmQtaW4=',
        });
      }
      if (req.method === 'POST' && /^\/v1\/admin\/accounts\/[^/]+\/keys$/.test(path)) {
        return send(res, 201, { id: `key_${++next}`, key: 'ak_stand_in', name: 'k', scopes: ['jobs:write'] });
      }
      if (req.method === 'GET' && path === '/v1/admin/fleet') return send(res, 200, { pools: [] });
      // The fault: the limit is checked after counting, so one more than the limit gets in.
      if (req.method === 'POST' && path === '/v1/jobs') {
        if (active > limit) return problem(res, 429, 'quota_exceeded', { 'retry-after': '1' });
        active++;
        return send(res, 202, job(`job_${++next}`, 'queued'));
      }
      const m = /^\/v1\/jobs\/([^/]+)$/.exec(path);
      if (m !== null && req.method === 'DELETE') {
        cancelled.add(m[1]!);
        return send(res, 200, job(m[1]!, 'cancelled'));
      }
      if (m !== null && req.method === 'GET')
        return send(res, 200, job(m[1]!, cancelled.has(m[1]!) ? 'cancelled' : 'queued'));
      return problem(res, 404, 'not_found');
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
