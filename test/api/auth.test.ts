/**
 * Authentication and isolation over real HTTP: API keys, X-User-ID, scopes, revocation, ownership,
 * and end-user JWTs including the classic attacks.
 */
import { createHmac, generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { SignJWT, exportJWK, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, createTenant, invertWorkflow, startTestServer, type TestServer } from '../support/server.js';

let server: TestServer;
let jwks: Server;
let jwksUrl: string;
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const otherRsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const HS_SECRET = 'a-shared-secret-that-is-long-enough-1234';

async function rs256(claims: Record<string, unknown>, key = rsa.privateKey, kid = 'k1'): Promise<string> {
  let jwt = new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid }).setIssuedAt();
  if (!('exp' in claims)) jwt = jwt.setExpirationTime('5m');
  return await jwt.sign(key);
}

function b64url(s: string | Buffer): string {
  return Buffer.from(s).toString('base64url');
}

beforeAll(async () => {
  server = await startTestServer({ settings: { comfyLite: 0 } });
  const jwk: JWK = { ...(await exportJWK(rsa.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  jwks = createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
  const addr = jwks.address();
  jwksUrl = `http://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}/jwks.json`;
});

afterAll(async () => {
  await server.close();
  await new Promise((r) => jwks.close(r));
});

describe('API keys', () => {
  it('401 without credentials, with a malformed or unknown key', async () => {
    const r1 = await fetch(`${server.url}/v1/jobs`);
    expect(r1.status).toBe(401);
    expect(r1.headers.get('content-type')).toContain('application/problem+json');
    expect(((await r1.json()) as any).code).toBe('unauthorized');
    const t = await createTenant(server);
    const forged = t.key.slice(0, -4) + 'AAAA';
    expect((await client(server, forged, 'alice').list()).status).toBe(401);
    expect((await client(server, 'nonsense', 'alice').list()).status).toBe(401);
  });

  it('400 invalid_user_id when X-User-ID is missing or malformed', async () => {
    const t = await createTenant(server);
    const missing = await client(server, t.key, null).list();
    expect(missing.status).toBe(400);
    expect(missing.body.code).toBe('invalid_user_id');
    for (const bad of ['a b', 'x'.repeat(129), 'ü', 'a/b']) {
      const r = await client(server, t.key, bad).list();
      expect(r.status, bad).toBe(400);
      expect(r.body.code).toBe('invalid_user_id');
    }
    expect((await client(server, t.key, 'user.1:a@b-c_d').list()).status).toBe(200);
  });

  it('a revoked key is refused at once', async () => {
    const t = await createTenant(server);
    const c = client(server, t.key, 'alice');
    expect((await c.list()).status).toBe(200);
    expect((await server.admin('DELETE', `/v1/admin/keys/${t.keyId}`)).status).toBe(204);
    const r = await c.list();
    expect(r.status).toBe(401);
    expect(r.body.code).toBe('unauthorized');
    expect((await server.admin('DELETE', `/v1/admin/keys/${t.keyId}`)).status).toBe(404);
  });

  it('scopes: read-only keys cannot submit or cancel; raw workflows need workflows:raw', async () => {
    const readOnly = await createTenant(server, {}, ['jobs:read']);
    const r = await client(server, readOnly.key, 'alice').submit({ workflow: invertWorkflow() });
    expect(r.status).toBe(403);
    expect(r.body.code).toBe('insufficient_scope');
    // Again with the key now cached (checked synchronously): the same scopes, the same refusal.
    const cached = await client(server, readOnly.key, 'alice').submit({ workflow: invertWorkflow() });
    expect(cached.status).toBe(403);
    expect(cached.body.code).toBe('insufficient_scope');
    expect((await client(server, readOnly.key, 'alice').list()).status).toBe(200);
    const noRaw = await createTenant(server, {}, ['jobs:read', 'jobs:write']);
    const r2 = await client(server, noRaw.key, 'alice').submit({ workflow: invertWorkflow() });
    expect(r2.status).toBe(403);
    expect(r2.body.code).toBe('insufficient_scope');
    const writeOnly = await createTenant(server, {}, ['jobs:write', 'workflows:raw']);
    expect((await client(server, writeOnly.key, 'alice').list()).status).toBe(403);
  });

  it('admin API: 401 without or with a wrong admin key; account keys are not admin keys', async () => {
    const t = await createTenant(server);
    expect((await fetch(`${server.url}/v1/admin/accounts`)).status).toBe(401);
    const wrong = await fetch(`${server.url}/v1/admin/accounts`, {
      headers: { authorization: `Bearer ${t.key}` },
    });
    expect(wrong.status).toBe(401);
    expect(((await wrong.json()) as any).code).toBe('unauthorized');
  });
});

describe('isolation: another user or account sees 404 exactly like an unknown id', () => {
  it('on every job endpoint', async () => {
    const a = await createTenant(server);
    const b = await createTenant(server);
    const alice = client(server, a.key, 'alice');
    const created = await alice.submit({ workflow: invertWorkflow() });
    expect(created.status).toBe(202);
    const id: string = created.body.id;
    const unknown = 'job_00000000000000000000000000';
    const strangers = [client(server, a.key, 'bob'), client(server, b.key, 'alice')];
    const shape = (r: { status: number; body: any }) => ({
      status: r.status,
      code: r.body.code,
      title: r.body.title,
    });
    for (const s of strangers) {
      for (const path of [`/v1/jobs/${id}`, `/v1/jobs/${id}/events`, `/v1/jobs/${id}/outputs/0`]) {
        const theirs = await s.call('GET', path);
        const none = await s.call('GET', path.replace(id, unknown));
        expect(shape(theirs), path).toEqual(shape(none));
        expect(theirs.status).toBe(404);
      }
      const del = await s.cancel(id);
      expect(del.status).toBe(404);
      const list = await s.list();
      expect(list.body.data.map((j: any) => j.id)).not.toContain(id);
    }
    expect((await alice.get(id)).status).toBe(200);
  });
});

describe('end-user JWTs', () => {
  let jwksTenant: { accountId: string };
  let hsTenant: { accountId: string };

  beforeAll(async () => {
    jwksTenant = await createTenant(server, {
      jwt: { issuer: 'https://fe.example', audience: 'arrakis', algorithms: ['RS256'], jwks_url: jwksUrl },
    });
    hsTenant = await createTenant(server, {
      jwt: { issuer: 'https://hs.example', audience: 'arrakis', algorithms: ['HS256'], secret: HS_SECRET },
    });
  });

  const base = { iss: 'https://fe.example', aud: 'arrakis', sub: 'carol' };

  it('a valid RS256 token (JWKS) acts as its sub; its scope claim gates raw workflows', async () => {
    const token = await rs256(base);
    const c = client(server, token, null);
    expect((await c.list()).status).toBe(200);
    const denied = await c.submit({ workflow: invertWorkflow() });
    expect(denied.status).toBe(403);
    expect(denied.body.code).toBe('insufficient_scope');
    const raw = client(server, await rs256({ ...base, scope: 'workflows:raw' }), null);
    const ok = await raw.submit({ workflow: invertWorkflow() });
    expect(ok.status).toBe(202);
    expect(ok.body.user_id).toBe('carol');
    expect(jwksTenant.accountId).toMatch(/^acct_/);
  });

  it('a valid HS256 token (shared secret) is accepted', async () => {
    const token = await new SignJWT({ iss: 'https://hs.example', aud: 'arrakis', sub: 'dave' })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(HS_SECRET));
    expect((await client(server, token, null).list()).status).toBe(200);
    expect(hsTenant.accountId).toMatch(/^acct_/);
  });

  it('X-User-ID that differs from sub → 403 user_mismatch', async () => {
    const r = await client(server, await rs256(base), 'mallory').list();
    expect(r.status).toBe(403);
    expect(r.body.code).toBe('user_mismatch');
  });

  const attacks: Array<[string, () => Promise<string>]> = [
    [
      'alg none',
      async () =>
        `${b64url(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${b64url(JSON.stringify({ ...base, exp: Math.floor(Date.now() / 1000) + 300 }))}.`,
    ],
    ['signed by another key', async () => await rs256(base, otherRsa.privateKey)],
    ['expired', async () => await rs256({ ...base, exp: Math.floor(Date.now() / 1000) - 120 })],
    [
      'no exp',
      async () =>
        await new SignJWT(base).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).sign(rsa.privateKey),
    ],
    ['wrong audience', async () => await rs256({ ...base, aud: 'someone-else' })],
    ['wrong issuer', async () => await rs256({ ...base, iss: 'https://evil.example' })],
    [
      'HS256 signed with the RS256 public key',
      async () => {
        // The classic key-confusion forgery: HMAC keyed with the public key a verifier might misuse.
        const pem = String(rsa.publicKey.export({ type: 'spki', format: 'pem' }));
        const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT', kid: 'k1' }));
        const body = b64url(JSON.stringify({ ...base, exp: Math.floor(Date.now() / 1000) + 300 }));
        const sig = createHmac('sha256', pem).update(`${head}.${body}`).digest('base64url');
        return `${head}.${body}.${sig}`;
      },
    ],
    [
      'HS256 token for the RS256 account signed with the other account secret',
      async () =>
        await new SignJWT(base)
          .setProtectedHeader({ alg: 'HS256' })
          .setExpirationTime('5m')
          .sign(new TextEncoder().encode(HS_SECRET)),
    ],
    ['garbage', async () => 'a.b.c'],
    // Lifetime limit (--jwt-max-lifetime-s, default 24 h): a leaked long-lived token is not a permanent credential.
    ['exp 1e308', async () => await rs256({ ...base, exp: 1e308 })],
    [
      'exp 1e308 without iat',
      async () =>
        await new SignJWT({ ...base, exp: 1e308 })
          .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
          .sign(rsa.privateKey),
    ],
    [
      'exp - iat of 25 h',
      async () => await rs256({ ...base, exp: Math.floor(Date.now() / 1000) + 25 * 3600 }),
    ],
    [
      'iat and exp both far in the future (exp - iat small)',
      async () => await rs256({ ...base, iat: 1e12, exp: 1e12 + 60 }),
    ],
  ];

  for (const [name, make] of attacks) {
    it(`refuses: ${name}`, async () => {
      const r = await client(server, await make(), null).list();
      expect(r.status).toBe(401);
      expect(r.body.code).toBe('unauthorized');
    });
  }

  it('a token just under the maximum lifetime (23 h) is accepted', async () => {
    const token = await rs256({ ...base, exp: Math.floor(Date.now() / 1000) + 23 * 3600 });
    expect((await client(server, token, null).list()).status).toBe(200);
  });

  it('--jwt-max-lifetime-s lowers the maximum: a 5-minute token is refused under a 120 s maximum', async () => {
    const strict = await startTestServer({ settings: { comfyLite: 0, jwtMaxLifetimeS: 120 } });
    try {
      await createTenant(strict, {
        jwt: { issuer: 'https://fe.example', audience: 'arrakis', algorithms: ['RS256'], jwks_url: jwksUrl },
      });
      expect((await client(strict, await rs256(base), null).list()).status).toBe(401);
      const short = await rs256({ ...base, exp: Math.floor(Date.now() / 1000) + 60 });
      expect((await client(strict, short, null).list()).status).toBe(200);
    } finally {
      await strict.close();
    }
  });

  it('account jwt config is validated (secret with RS256 refused)', async () => {
    const r = await server.admin('POST', '/v1/admin/accounts', {
      name: 'bad',
      jwt: { issuer: 'x', audience: 'y', algorithms: ['RS256'], secret: HS_SECRET },
    });
    expect(r.status).toBe(400);
    expect(r.body.code).toBe('validation_failed');
  });
});

describe('auth is decided by the matched route, not the raw URL', () => {
  it('percent-encoded admin and job paths still need their credentials', async () => {
    for (const path of ['/v1/%61dmin/accounts', '/v1/admin%2Faccounts', '/v1/%61dmin/worker-tokens']) {
      const r = await fetch(`${server.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'x' }),
      });
      expect([401, 404], path).toContain(r.status);
    }
    const encoded = await fetch(`${server.url}/v1/%6Aobs/job_00000000000000000000000000`);
    expect(encoded.status).toBe(401);
  });
});
