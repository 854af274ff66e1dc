/**
 * HTTPS through a pinned address: the socket goes to 127.0.0.1 (the vetted address) while TLS still
 * speaks to the NAME: SNI carries it, and the certificate is checked against it. The certificate is a
 * self-signed fixture for `pinned.test` valid until 2126 (test/media/fixtures).
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FetchError } from '../../src/media/fetch-error.js';
import type { Resolver } from '../../src/media/resolve-target.js';
import { safeFetch } from '../../src/media/safe-fetch.js';

const fixture = (name: string): Buffer => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));
const cert = fixture('pinned-test.crt');
const key = fixture('pinned-test.key');
const toLoopback: Resolver = async () => [{ address: '127.0.0.1', family: 4 }];

let server: Server;
let port = 0;
const seenSni: Array<string | false | null> = [];

beforeAll(async () => {
  server = createServer({ cert, key }, (req, res) => {
    seenSni.push(req.socket instanceof TLSSocket ? req.socket.servername : false);
    res.end(`host=${req.headers.host}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  port = typeof addr === 'object' && addr !== null ? addr.port : 0;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('safeFetch over HTTPS', () => {
  it('keeps SNI, Host and certificate checks on the name while connecting to the pinned address', async () => {
    const r = await safeFetch(`https://pinned.test:${port}/`, {
      allow: [`pinned.test:${port}`],
      resolve: toLoopback,
      ca: cert,
    });
    expect(r.body.toString()).toBe(`host=pinned.test:${port}`);
    expect(seenSni).toEqual(['pinned.test']);
  });

  it('still refuses a certificate it cannot verify', async () => {
    const err = await safeFetch(`https://pinned.test:${port}/`, {
      allow: [`pinned.test:${port}`],
      resolve: toLoopback,
    }).catch((e: unknown) => e);
    expect(err instanceof FetchError && err.code).toBe('fetch_failed');
  });
});
