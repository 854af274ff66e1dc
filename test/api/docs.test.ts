/**
 * /docs is Swagger UI served from the installed package (no CDN) over the same document as /openapi.json,
 * templates included. The page itself is checked in Chromium by test/browser/docs.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.js';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
  const t = await server.admin('POST', '/v1/admin/templates', {
    name: 'tiny',
    workflow: {
      '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
      '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'x' } },
    },
    params: [{ name: 'size', type: 'integer', node: '1', input: 'width' }],
  });
  expect(t.status).toBe(201);
});
afterAll(async () => {
  await server.close();
});

describe('/docs', () => {
  it('serves Swagger UI with every script and style from this server', async () => {
    for (const path of ['/docs', '/docs/']) {
      const res = await fetch(`${server.url}${path}`);
      expect(res.status).toBe(200);
      const html = await res.text();
      expect(html).toContain('swagger-ui-bundle.js');
      expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    }
    const bundle = await fetch(`${server.url}/docs/static/swagger-ui-bundle.js`);
    expect(bundle.status).toBe(200);
    expect(bundle.headers.get('content-type')).toMatch(/javascript/);
    expect((await bundle.arrayBuffer()).byteLength).toBeGreaterThan(100_000);
  });

  it('reads the same document as /openapi.json, templates included', async () => {
    const fromUi: any = await (await fetch(`${server.url}/docs/json`)).json();
    const published: any = await (await fetch(`${server.url}/openapi.json`)).json();
    expect(fromUi).toEqual(published);
    expect(fromUi.components.schemas.Template_tiny.properties.params.properties.size).toEqual({
      type: 'integer',
    });
  });
});
