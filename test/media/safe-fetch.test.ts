/**
 * Safe fetch against real HTTP servers on 127.0.0.1. Loopback is normally refused, so each test puts
 * exactly the servers it means to reach on the allowlist; nothing here ever connects elsewhere.
 */
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { FetchError } from '../../src/media/fetch-error.js';
import type { Resolver } from '../../src/media/resolve-target.js';
import { safeFetch, type SafeFetchOptions } from '../../src/media/safe-fetch.js';
import { makePng } from './fixtures.js';
import { startLoopbackServer, type Handler, type LoopbackServer } from './loopback-server.js';

const servers: LoopbackServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(handler: Handler): Promise<LoopbackServer> {
  const s = await startLoopbackServer(handler);
  servers.push(s);
  return s;
}

function allowOf(...list: LoopbackServer[]): string[] {
  return list.map((s) => `127.0.0.1:${s.port}`);
}

async function fetchError(url: string, opts: SafeFetchOptions): Promise<FetchError> {
  const err = await safeFetch(url, opts).then(
    () => null,
    (e: unknown) => e,
  );
  if (!(err instanceof FetchError)) throw new Error(`expected a FetchError, got ${String(err)}`);
  return err;
}

describe('safeFetch', () => {
  it('fetches an allowlisted image and sniffs its type, ignoring Content-Type', async () => {
    const png = await makePng();
    const s = await serve((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end(png));
    const r = await safeFetch(s.url('/a.png'), { allow: allowOf(s), expect: 'image' });
    expect(r.status).toBe(200);
    expect(r.body.equals(png)).toBe(true);
    expect(r.image?.format).toBe('png');
    expect(r.contentType).toBe('image/png');
  });

  it('refuses a non-allowlisted loopback host without connecting', async () => {
    const s = await serve((_req, res) => res.end('secret'));
    for (const url of [s.url('/'), `http://localhost:${s.port}/`, `http://0x7f.1:${s.port}/`]) {
      expect((await fetchError(url, {})).code).toBe('url_blocked');
    }
    // Allowlisting another port of the same host does not open this one.
    expect((await fetchError(s.url('/'), { allow: [`127.0.0.1:${s.port + 1}`] })).code).toBe('url_blocked');
    expect(s.connections()).toBe(0);
  });

  it('refuses a name that resolves to loopback, without connecting', async () => {
    const s = await serve((_req, res) => res.end('secret'));
    const resolve: Resolver = async () => [{ address: '127.0.0.1', family: 4 }];
    const err = await fetchError(`http://rebind.test:${s.port}/`, { resolve });
    expect(err.code).toBe('url_blocked');
    expect(err.message).toContain('loopback');
    expect(s.connections()).toBe(0);
  });

  it('resolves once and connects to the vetted address (no second DNS lookup)', async () => {
    const s = await serve((req, res) => res.end(`host=${req.headers.host}`));
    let lookups = 0;
    const resolve: Resolver = async () => {
      lookups++;
      return [{ address: '127.0.0.1', family: 4 }];
    };
    // `pinned.test` exists in no DNS: the request only works if the socket uses the pinned address.
    const r = await safeFetch(`http://pinned.test:${s.port}/`, { allow: [`pinned.test:${s.port}`], resolve });
    expect(r.body.toString()).toBe(`host=pinned.test:${s.port}`);
    expect(lookups).toBe(1);
  });

  it('re-vets a redirect: a hop to a non-allowlisted loopback port is blocked before connecting', async () => {
    const target = await serve((_req, res) => res.end('internal'));
    const s = await serve((_req, res) => res.writeHead(302, { location: target.url('/admin') }).end());
    const err = await fetchError(s.url('/'), { allow: allowOf(s) });
    expect(err.code).toBe('url_blocked');
    expect(s.connections()).toBe(1);
    expect(target.connections()).toBe(0);
  });

  it('follows up to 3 redirects and refuses the 4th', async () => {
    const s = await serve((req, res) => {
      const n = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('n'));
      if (n > 0) res.writeHead(307, { location: `/?n=${n - 1}` }).end();
      else res.end('landed');
    });
    const ok = await safeFetch(s.url('/?n=3'), { allow: allowOf(s) });
    expect(ok.body.toString()).toBe('landed');
    expect(ok.url).toBe(s.url('/?n=0'));
    expect((await fetchError(s.url('/?n=4'), { allow: allowOf(s) })).code).toBe('too_many_redirects');
  });

  it('stops reading an endless body as soon as it passes the limit', async () => {
    let sent = 0;
    let closed = false;
    const s = await serve((_req, res) => {
      const chunk = Buffer.alloc(64 * 1024, 1);
      const endless = new Readable({
        read() {
          sent += chunk.length;
          this.push(chunk);
        },
      });
      res.on('close', () => {
        closed = true;
        endless.destroy();
      });
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      endless.pipe(res);
    });
    const maxBytes = 2 * 1024 * 1024;
    const err = await fetchError(s.url('/'), { allow: allowOf(s), maxBytes });
    expect(err.code).toBe('too_large');
    await expect.poll(() => closed).toBe(true);
    // Only socket buffers' worth beyond the limit was ever produced: the client hung up.
    expect(sent).toBeLessThan(maxBytes + 32 * 1024 * 1024);
  });

  it('refuses a declared Content-Length over the limit before reading', async () => {
    const s = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': String(100 * 1024 * 1024) });
      res.write(Buffer.alloc(1024));
    });
    const err = await fetchError(s.url('/'), { allow: allowOf(s), maxBytes: 1024 * 1024 });
    expect(err.code).toBe('too_large');
  });

  it('times out a stalled body', async () => {
    const s = await serve((_req, res) => {
      res.writeHead(200);
      res.write('partial');
    });
    const err = await fetchError(s.url('/'), { allow: allowOf(s), timeouts: { bodyIdleMs: 150 } });
    expect(err.code).toBe('timeout');
  });

  it('times out a server that never answers', async () => {
    const s = await serve(() => undefined);
    const err = await fetchError(s.url('/'), { allow: allowOf(s), timeouts: { headersMs: 150 } });
    expect(err.code).toBe('timeout');
  });

  it('enforces the total time even while bytes keep trickling in', async () => {
    const s = await serve((_req, res) => {
      res.writeHead(200);
      const t = setInterval(() => res.write('x'), 20);
      res.on('close', () => clearInterval(t));
    });
    const started = Date.now();
    const err = await fetchError(s.url('/'), {
      allow: allowOf(s),
      timeouts: { totalMs: 300, bodyIdleMs: 5000 },
    });
    expect(err.code).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('refuses text served as image/png', async () => {
    const s = await serve((_req, res) =>
      res.writeHead(200, { 'content-type': 'image/png' }).end('<html>hi</html>'),
    );
    const err = await fetchError(s.url('/'), { allow: allowOf(s), expect: 'image' });
    expect(err.code).toBe('unsupported_type');
  });

  it('reports a non-2xx answer as bad_status', async () => {
    const s = await serve((_req, res) => res.writeHead(404).end('nope'));
    const err = await fetchError(s.url('/'), { allow: allowOf(s) });
    expect(err.code).toBe('bad_status');
    expect(err.status).toBe(404);
  });

  it('reports a refused connection as fetch_failed', async () => {
    const s = await serve((_req, res) => res.end());
    const port = s.port;
    await s.close();
    servers.splice(servers.indexOf(s), 1);
    expect((await fetchError(`http://127.0.0.1:${port}/`, { allow: [`127.0.0.1:${port}`] })).code).toBe(
      'fetch_failed',
    );
  });

  it('POSTs a webhook body and hands back a non-2xx status when asked to', async () => {
    let got = '';
    const s = await serve((req, res) => {
      req.setEncoding('utf8');
      req.on('data', (d: string) => (got += d));
      req.on('end', () => res.writeHead(410, { 'retry-after': '5' }).end('gone'));
    });
    const r = await safeFetch(s.url('/hook'), {
      allow: allowOf(s),
      method: 'POST',
      headers: { 'content-type': 'application/json', 'webhook-id': 'msg_1' },
      body: '{"a":1}',
      rejectBadStatus: false,
    });
    expect(r.status).toBe(410);
    expect(r.headers['retry-after']).toBe('5');
    expect(got).toBe('{"a":1}');
  });

  it('turns a POST into a GET on 303 and drops credentials across origins', async () => {
    const seen: Array<{ method?: string; auth?: string }> = [];
    const b = await serve((req, res) => {
      seen.push({ method: req.method, auth: req.headers.authorization });
      res.end('ok');
    });
    const a = await serve((_req, res) => res.writeHead(303, { location: b.url('/done') }).end());
    await safeFetch(a.url('/'), {
      allow: allowOf(a, b),
      method: 'POST',
      body: 'x',
      headers: { authorization: 'Bearer t' },
    });
    expect(seen).toEqual([{ method: 'GET', auth: undefined }]);
  });
});
