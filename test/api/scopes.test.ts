/**
 * Auth by encapsulated scopes: a route inherits the auth of the scope it is registered in, so a route file
 * added to the job, admin or worker scope with no auth code of its own is still refused without credentials.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueWorkerToken } from '../../src/workers/worker-tokens.js';
import { WORKER_ID_HEADER } from '../../src/workers/worker-protocol.js';
import { buildApi, type Api } from '../../src/api/app.js';
import type { ApiDeps, RouteFile } from '../../src/api/context.js';
import { installProblemHandlers } from '../../src/api/problem.js';
import { credentials, workerRoutes } from '../../src/api/routes/workers.js';
import {
  workerOf,
  workerScope,
  workerTokenOf,
  type WorkerRouteFile,
} from '../../src/api/scopes/worker-scope.js';
import { markScope, requireScopes } from '../../src/api/scopes/scope.js';
import type { Store } from '../../src/store/contract.js';
import { openMigratedStore } from '../../src/store/open.js';
import { apiDeps, injectTenant } from '../support/api-app.js';

const ADMIN_KEY = 'scopes-test-admin-key-0123456789';
const ADMIN = { authorization: `Bearer ${ADMIN_KEY}` };

/** A route file with no auth code: it answers who the scope says is calling. */
function probe(path: string): RouteFile {
  return async (app) => {
    app.get(path, async (request) => ({ user: request.principal?.userId ?? null }));
  };
}

let dir: string;
let store: Store;

function deps(settings: Record<string, unknown>, extra: Partial<ApiDeps> = {}): ApiDeps {
  return apiDeps(dir, store, settings, extra);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'arrakis-scopes-'));
  store = await openMigratedStore(`sqlite:${join(dir, 'db')}`);
});
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('job and admin scopes', () => {
  let api: Api;
  let key: string;
  beforeAll(async () => {
    const base = deps({ adminKey: ADMIN_KEY });
    api = await buildApi(
      deps(
        { adminKey: ADMIN_KEY },
        {
          workerApi: workerRoutes({
            store,
            storage: base.storage,
            bus: base.bus,
            leaseMs: 30_000,
            maxAttempts: 3,
          }),
          extraRoutes: {
            job: [probe('/v1/probe-job')],
            admin: [probe('/v1/admin/probe')],
            public: [probe('/probe-public')],
          },
        },
      ),
    );
    ({ key } = await injectTenant(api.app, ADMIN));
  });
  afterAll(async () => {
    await api.app.close();
  });

  it('a route added to the job scope without auth code is refused without credentials, and served with them', async () => {
    const bare = await api.app.inject({ url: '/v1/probe-job' });
    expect(bare.statusCode).toBe(401);
    expect(bare.json()).toMatchObject({ code: 'unauthorized' });
    const adminKeyIsNoUserKey = await api.app.inject({
      url: '/v1/probe-job',
      headers: { ...ADMIN, 'x-user-id': 'u' },
    });
    expect(adminKeyIsNoUserKey.statusCode).toBe(401);
    const ok = await api.app.inject({
      url: '/v1/probe-job',
      headers: { authorization: `Bearer ${key}`, 'x-user-id': 'alice' },
    });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ user: 'alice' });
  });

  it('a route added to the admin scope without auth code needs the admin key; an account key is not one', async () => {
    expect((await api.app.inject({ url: '/v1/admin/probe' })).statusCode).toBe(401);
    const accountKey = await api.app.inject({
      url: '/v1/admin/probe',
      headers: { authorization: `Bearer ${key}` },
    });
    expect(accountKey.statusCode).toBe(401);
    expect((await api.app.inject({ url: '/v1/admin/probe', headers: ADMIN })).statusCode).toBe(200);
    // Percent-encoding is decoded before routing: the encoded path is the same admin route, same auth.
    expect((await api.app.inject({ url: '/v1/%61dmin/probe' })).statusCode).toBe(401);
  });

  it('every documented admin operation (model registry, worker tokens and workers too) needs the admin key', async () => {
    const doc = (await api.app.inject({ url: '/openapi.json' })).json() as {
      paths: Record<string, Record<string, unknown>>;
    };
    const admin = Object.entries(doc.paths).filter(([path]) => path.startsWith('/v1/admin/'));
    const paths = admin.map(([path]) => path);
    expect(paths).toEqual(
      expect.arrayContaining([
        '/v1/admin/models',
        '/v1/admin/models/{name}',
        '/v1/admin/worker-tokens',
        '/v1/admin/workers',
      ]),
    );
    for (const [path, ops] of admin) {
      for (const method of Object.keys(ops)) {
        const url = path.replace(/\{[^}]+\}/g, 'x');
        const verb = method.toUpperCase() as 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
        const r = await api.app.inject({ method: verb, url, headers: { authorization: `Bearer ${key}` } });
        expect(r.statusCode, `${method} ${path}`).toBe(401);
      }
    }
    const models = await api.app.inject({ url: '/v1/admin/models', headers: ADMIN });
    expect(models.statusCode).toBe(200);
    expect(models.json()).toEqual({ data: [] });
  });

  it('the public scope needs nothing', async () => {
    const r = await api.app.inject({ url: '/probe-public' });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ user: null });
    expect((await api.app.inject({ url: '/healthz' })).statusCode).toBe(200);
  });

  it('unknown routes answer 404, not 401, in and out of every scope prefix', async () => {
    for (const url of ['/v1/nope', '/v1/jobs/job_x/nope', '/v1/admin/nope', '/v1/worker/nope', '/nope']) {
      const r = await api.app.inject({ url });
      expect(r.statusCode, url).toBe(404);
      expect(r.json(), url).toMatchObject({ code: 'not_found' });
    }
    // The worker API is mounted, and its own routes still need a token.
    expect((await api.app.inject({ method: 'POST', url: '/v1/worker/claim' })).statusCode).toBe(401);
  });
});

describe('without an admin key', () => {
  it('there is no admin API: its routes, extra ones too, answer 404', async () => {
    const api = await buildApi(deps({}, { extraRoutes: { admin: [probe('/v1/admin/probe')] } }));
    try {
      expect((await api.app.inject({ url: '/v1/admin/accounts' })).statusCode).toBe(404);
      expect((await api.app.inject({ url: '/v1/admin/probe' })).statusCode).toBe(404);
    } finally {
      await api.app.close();
    }
  });
});

describe('the root guard', () => {
  it('a route registered outside every scope fails the start; inside one it is fine', async () => {
    const app = Fastify();
    requireScopes(app);
    expect(() => app.get('/v1/unscoped', async () => ({}))).toThrow(/outside every auth scope/);
    await app.register(async (scope) => {
      markScope(scope, 'public');
      scope.get('/scoped', async () => ({ ok: true }));
    });
    expect((await app.inject({ url: '/scoped' })).statusCode).toBe(200);
    await app.close();
  });
});

describe('worker scope', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = Fastify();
    installProblemHandlers(app);
    const tokenRoute: WorkerRouteFile = (s) => {
      s.get('/probe-token', async (request) => ({ token: workerTokenOf(request).id }));
    };
    const workerRoute: WorkerRouteFile = (s) => {
      s.get('/probe-worker', async (request) => ({ worker: workerOf(request).id }));
    };
    await app.register(workerScope(credentials(store), { token: [tokenRoute], worker: [workerRoute] }), {
      prefix: '/v1/worker',
    });
  });
  afterAll(async () => {
    await app.close();
  });

  it('a route added without auth code needs a valid worker token, and a registered worker bound to it', async () => {
    expect((await app.inject({ url: '/v1/worker/probe-token' })).statusCode).toBe(401);
    expect((await app.inject({ url: '/v1/worker/probe-worker' })).statusCode).toBe(401);
    const forged = { authorization: 'Bearer wkt_nope_' + '0'.repeat(64) };
    expect((await app.inject({ url: '/v1/worker/probe-token', headers: forged })).statusCode).toBe(401);

    const { id, token } = await issueWorkerToken(store, 'w', 'default');
    const auth = { authorization: `Bearer ${token}` };
    const t = await app.inject({ url: '/v1/worker/probe-token', headers: auth });
    expect(t.statusCode).toBe(200);
    expect(t.json()).toEqual({ token: id });
    // A token alone is not a worker.
    expect((await app.inject({ url: '/v1/worker/probe-worker', headers: auth })).statusCode).toBe(401);
    const now = Date.now();
    await store.upsertWorker({
      id: 'wrk_scope',
      name: 'w',
      pool: 'default',
      kind: 'remote',
      comfyUrl: null,
      status: 'idle',
      providerRef: id,
      startedAt: now,
      readyAt: now,
      lastSeenAt: now,
      stoppedAt: null,
    });
    const w = await app.inject({
      url: '/v1/worker/probe-worker',
      headers: { ...auth, [WORKER_ID_HEADER]: 'wrk_scope' },
    });
    expect(w.statusCode).toBe(200);
    expect(w.json()).toEqual({ worker: 'wrk_scope' });
    // Another token may not act as this worker.
    const other = await issueWorkerToken(store, 'x', 'default');
    const stolen = await app.inject({
      url: '/v1/worker/probe-worker',
      headers: { authorization: `Bearer ${other.token}`, [WORKER_ID_HEADER]: 'wrk_scope' },
    });
    expect(stolen.statusCode).toBe(401);
  });
});
