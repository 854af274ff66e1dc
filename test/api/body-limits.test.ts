/**
 * Depth and shape limits hold for every body shape of POST /v1/jobs (JSON, the multipart `request` field,
 * template params), and malformed multipart is a client error, never a 500 (issue 9, item 3; issue 13,
 * defect 3: a `request` part typed application/json).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { valueTooDeep } from '../../src/api/body-limits.js';
import { client, createTenant, invertWorkflow, startTestServer, type TestServer } from '../support/server.js';

let server: TestServer;
let key: string;

beforeAll(async () => {
  server = await startTestServer({ settings: { comfyLite: 0, maxBodyMb: 4 } });
  const t = await createTenant(server, {
    limits: { submit_rate_per_user: 1000, submit_burst_per_user: 1000 },
  });
  key = t.key;
});
afterAll(async () => {
  await server.close();
});

/** `{"a":{"a":…1…}}` nested `levels` deep, as text (JSON.stringify itself would overflow at 10k). */
function deepText(levels: number): string {
  return '{"a":'.repeat(levels) + '1' + '}'.repeat(levels);
}

function workflowWithDeepInput(levels: number): string {
  const wf = JSON.stringify(invertWorkflow());
  // A deep value inside an input of node 2: ComfyUI ignores unknown inputs, so only depth can refuse it.
  return wf.replace('"inputs":{"image":["1",0]}', `"inputs":{"image":["1",0],"extra":${deepText(levels)}}`);
}

async function post(
  body: string | FormData,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any }> {
  const res = await fetch(`${server.url}/v1/jobs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'x-user-id': 'alice', ...headers },
    body,
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? null : JSON.parse(text) };
}

function form(request: string | Blob, extra: (f: FormData) => void = () => {}): FormData {
  const f = new FormData();
  f.append('request', request);
  extra(f);
  return f;
}

const BOUNDARY = 'XyZbOuNdArY';

function rawMultipart(parts: string): { body: string; headers: Record<string, string> } {
  return { body: parts, headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` } };
}

function expectDeepRefused(r: { status: number; body: any }): void {
  expect([400, 413]).toContain(r.status);
  expect(r.body.code).toBe(r.status === 413 ? 'payload_too_large' : 'validation_failed');
}

describe('depth limits for every body shape', () => {
  it('JSON: 10k-deep metadata and a 3k-deep workflow input are refused before parsing', async () => {
    const c = client(server, key, 'alice');
    const meta = await c.submit(
      `{"workflow":${JSON.stringify(invertWorkflow())},"metadata":${deepText(10_000)}}`,
    );
    expectDeepRefused(meta);
    const input = await c.submit(`{"workflow":${workflowWithDeepInput(3000)}}`);
    expectDeepRefused(input);
  });

  it('multipart: 10k-deep metadata → 413, not 500', async () => {
    const r = await post(
      form(`{"workflow":${JSON.stringify(invertWorkflow())},"metadata":${deepText(10_000)}}`),
    );
    expectDeepRefused(r);
    expect(r.status).toBe(413);
  });

  it('multipart: a 3k-deep value inside a workflow input is refused at admission', async () => {
    for (const levels of [70, 3000, 6000]) {
      const r = await post(form(`{"workflow":${workflowWithDeepInput(levels)}}`));
      expectDeepRefused(r);
    }
  });

  it('multipart: deep template params are refused', async () => {
    const r = await post(form(`{"template":"t","params":{"x":${deepText(5000)}}}`));
    expectDeepRefused(r);
  });

  it('multipart: a request part typed application/json is refused when deep, too', async () => {
    const blob = new Blob([`{"workflow":${workflowWithDeepInput(3000)}}`], { type: 'application/json' });
    expectDeepRefused(await post(form(blob)));
  });
});

describe('the depth backstop on parsed bodies', () => {
  it('treats bytes as a leaf: a Buffer body (a worker output upload) is not walked byte by byte', () => {
    // The walk used to visit every byte of a Buffer (Object.values): a 64 MiB output upload blocked the event
    // loop ~1 s and took ~1 GB. A property hung on the Buffer shows whether the walk went inside it.
    const bytes = Object.assign(Buffer.alloc(16), { inside: JSON.parse(deepText(100)) as unknown });
    expect(valueTooDeep(bytes)).toBe(false);
    expect(valueTooDeep({ inside: JSON.parse(deepText(100)) as unknown })).toBe(true);
  });
});

describe('multipart shape', () => {
  it('a request part typed application/json (browser FormData with a JSON Blob) is accepted', async () => {
    const blob = new Blob([JSON.stringify({ workflow: invertWorkflow(), metadata: { via: 'blob' } })], {
      type: 'application/json',
    });
    // Sent as a field with a content type, the way `curl -F 'request=<f.json;type=application/json'` does.
    const text = await blob.text();
    const raw = rawMultipart(
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="request"\r\nContent-Type: application/json\r\n\r\n` +
        `${text}\r\n--${BOUNDARY}--\r\n`,
    );
    const r = await post(raw.body, raw.headers);
    expect(r.status).toBe(202);
    expect(r.body.metadata).toEqual({ via: 'blob' });
    // And as a Blob with a filename, which is how browsers send FormData.append('request', blob).
    const viaBlob = await post(form(blob));
    expect(viaBlob.status).toBe(202);
    expect(viaBlob.body.metadata).toEqual({ via: 'blob' });
  });

  it('a __proto__ or constructor.prototype key is refused in every body shape, as in a JSON body', async () => {
    const wf = JSON.stringify(invertWorkflow());
    const poisoned = [
      `{"workflow":${wf.replace('"inputs":{', '"inputs":{"__proto__":{"x":1},')}}`,
      `{"workflow":${wf},"metadata":{"constructor":{"prototype":{"x":1}}}}`,
    ];
    for (const text of poisoned) {
      const shapes = [
        await client(server, key, 'alice').submit(text),
        await post(form(text)),
        await post(form(new Blob([text], { type: 'application/json' }))),
      ];
      for (const r of shapes) {
        expect(r.status).toBe(400);
        expect(r.body.code).toBe('validation_failed');
      }
    }
  });

  it('two request fields → 400 validation_failed (the last does not silently win)', async () => {
    const f = form(JSON.stringify({ workflow: invertWorkflow() }), (x) =>
      x.append('request', JSON.stringify({ workflow: invertWorkflow(), priority: 5 })),
    );
    const r = await post(f);
    expect(r.status).toBe(400);
    expect(r.body.code).toBe('validation_failed');
    expect(r.body.detail).toContain('request');
  });

  it('multipart without a boundary → 400 validation_failed', async () => {
    const r = await post('--x\r\n', { 'content-type': 'multipart/form-data' });
    expect(r.status).toBe(400);
    expect(r.body.code).toBe('validation_failed');
  });

  it('multipart cut inside a file part → 400 validation_failed', async () => {
    const raw = rawMultipart(
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="request"\r\n\r\n` +
        `${JSON.stringify({ workflow: invertWorkflow() })}\r\n` +
        `--${BOUNDARY}\r\nContent-Disposition: form-data; name="photo"; filename="a.png"\r\n` +
        `Content-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\nsome bytes and then the body just ends`,
    );
    const r = await post(raw.body, raw.headers);
    expect(r.status).toBe(400);
    expect(r.body.code).toBe('validation_failed');
  });

  it('multipart cut inside the request field → 400 validation_failed', async () => {
    const raw = rawMultipart(
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="request"\r\n\r\n{"workflow":`,
    );
    const r = await post(raw.body, raw.headers);
    expect(r.status).toBe(400);
    expect(r.body.code).toBe('validation_failed');
  });

  it('the server still serves after all of the above', async () => {
    const r = await post(form(JSON.stringify({ workflow: invertWorkflow() })));
    expect(r.status).toBe(202);
  });
});
