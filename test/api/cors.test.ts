/** `--cors-origin`: a SaaS front end's origin may call the job endpoints from a browser; others may not. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, createTenant, startTestServer, type TestServer } from '../support/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ settings: { corsOrigins: ['https://app.example'] } });
});
afterAll(async () => {
  await server.close();
});

describe('CORS', () => {
  it('answers the preflight for an allowed origin, with the headers a JWT front end sends', async () => {
    const res = await fetch(`${server.url}/v1/jobs`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type, idempotency-key',
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(res.headers.get('access-control-allow-headers')).toContain('authorization');
    // Browser clients of arrakis/client send Prefer: wait and read Preference-Applied.
    expect(res.headers.get('access-control-allow-headers')).toContain('prefer');
  });

  it('gives other origins no CORS grant', async () => {
    const t = await createTenant(server);
    const r = await client(server, t.key, 'u').call('GET', '/v1/jobs', undefined, {
      origin: 'https://evil.example',
    });
    expect(r.status).toBe(200);
    expect(r.headers.get('access-control-allow-origin')).toBeNull();
    const ok = await client(server, t.key, 'u').call('GET', '/v1/jobs', undefined, {
      origin: 'https://app.example',
    });
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(ok.headers.get('access-control-expose-headers')).toContain('location');
    expect(ok.headers.get('access-control-expose-headers')).toContain('preference-applied');
  });
});
