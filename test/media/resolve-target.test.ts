/** DNS vetting in isolation: nothing here opens a socket. */
import { describe, expect, it } from 'vitest';
import { FetchError } from '../../src/media/fetch-error.js';
import { pinnedLookup, resolveTarget, type Resolver } from '../../src/media/resolve-target.js';
import { parseFetchAllow } from '../../src/media/url-policy.js';

const none = parseFetchAllow([]);
const signal = new AbortController().signal;

function resolverOf(...addresses: string[]): Resolver {
  return async () => addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
}

async function blockedReason(url: string, resolver: Resolver): Promise<string> {
  const err = await resolveTarget(url, none, resolver, signal).then(
    () => null,
    (e: unknown) => e,
  );
  if (!(err instanceof FetchError) || err.code !== 'url_blocked')
    throw new Error(`expected url_blocked, got ${String(err)}`);
  return err.message;
}

describe('resolveTarget', () => {
  it('refuses a name when ANY of its addresses is not public', async () => {
    expect(await blockedReason('https://mixed.test/', resolverOf('93.184.216.34', '10.0.0.7'))).toContain(
      'private',
    );
    expect(await blockedReason('https://v6.test/', resolverOf('2606:4700::1', '::ffff:127.0.0.1'))).toContain(
      'ipv4-mapped:loopback',
    );
    expect(await blockedReason('https://meta.test/', resolverOf('169.254.169.254'))).toContain('link-local');
  });

  it('keeps every vetted address of a public name, and does not consult DNS for a literal', async () => {
    const pinned = await resolveTarget(
      'https://ok.test/x',
      none,
      resolverOf('93.184.216.34', '2606:4700::1'),
      signal,
    );
    expect(pinned.addresses).toEqual([
      { address: '93.184.216.34', family: 4 },
      { address: '2606:4700::1', family: 6 },
    ]);
    const literal = await resolveTarget(
      'https://[2606:4700::1]/',
      none,
      async () => {
        throw new Error('DNS must not be asked');
      },
      signal,
    );
    expect(literal.addresses).toEqual([{ address: '2606:4700::1', family: 6 }]);
  });

  it('reports a name that does not resolve as fetch_failed', async () => {
    const err = await resolveTarget(
      'https://nx.test/',
      none,
      async () => {
        throw Object.assign(new Error('getaddrinfo ENOTFOUND nx.test'), { code: 'ENOTFOUND' });
      },
      signal,
    ).catch((e: unknown) => e);
    expect(err instanceof FetchError && err.code).toBe('fetch_failed');
  });
});

describe('pinnedLookup', () => {
  it('answers with the pinned addresses whatever name it is asked for', () => {
    const lookup = pinnedLookup([{ address: '127.0.0.1', family: 4 }]);
    const seen: unknown[] = [];
    lookup('evil.example', { all: true }, (_e, a) => seen.push(a));
    lookup('evil.example', {}, (_e, a, f) => seen.push([a, f]));
    expect(seen).toEqual([[{ address: '127.0.0.1', family: 4 }], ['127.0.0.1', 4]]);
  });
});
