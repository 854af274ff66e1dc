/**
 * Turns a URL into the addresses safe fetch may connect to: the DNS-free checks first, then ONE
 * resolution whose every address is vetted. The caller connects only to these addresses (see
 * `pinnedLookup`), so a name that resolves differently a second later (DNS rebinding) changes nothing.
 */
import { lookup } from 'node:dns/promises';
import { isIP, type LookupFunction } from 'node:net';
import { FetchError } from './fetch-error.js';
import { abortable } from '../util/abortable.js';
import { classifyAddress } from './ip-classifier.js';
import {
  isAllowlisted,
  parseUrlHost,
  vetHostLiteral,
  type FetchAllowlist,
  type UrlTarget,
} from './url-policy.js';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a host name to its addresses (dns.lookup by default; tests pass their own). */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

export interface PinnedTarget {
  target: UrlTarget;
  addresses: ResolvedAddress[];
}

/** The system resolver (getaddrinfo, so /etc/hosts applies), every address at once. */
export const systemResolver: Resolver = async (hostname) => {
  const found = await lookup(hostname, { all: true, verbatim: true });
  return found.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

async function resolveVetted(target: UrlTarget, allowed: boolean, resolver: Resolver, signal: AbortSignal) {
  let found: ResolvedAddress[];
  try {
    found = await abortable(resolver(target.hostname), signal);
  } catch (err) {
    if (signal.aborted) throw err;
    throw new FetchError('fetch_failed', `could not resolve ${target.hostname}`, { cause: err });
  }
  if (found.length === 0) throw new FetchError('fetch_failed', `${target.hostname} has no addresses`);
  if (!allowed) {
    // Every address must be public: refusing the name outright beats hoping we pick a good one.
    for (const a of found) {
      const verdict = classifyAddress(a.address);
      if (!verdict.public) {
        // The address itself stays out of the message: users need not learn our internal DNS answers.
        throw new FetchError('url_blocked', `${target.hostname} resolves to a ${verdict.range} address`);
      }
    }
  }
  return found;
}

/** Parses and vets `raw`, resolving its host once; throws FetchError `url_blocked` or `fetch_failed`. */
export async function resolveTarget(
  raw: string,
  allow: FetchAllowlist,
  resolver: Resolver,
  signal: AbortSignal,
): Promise<PinnedTarget> {
  const parsed = parseUrlHost(raw);
  if (!parsed.ok) throw new FetchError('url_blocked', parsed.reason);
  const { target } = parsed;
  const reason = vetHostLiteral(target, allow);
  if (reason !== null) throw new FetchError('url_blocked', reason);
  if (target.ip !== null) {
    return { target, addresses: [{ address: target.ip, family: isIP(target.ip) === 6 ? 6 : 4 }] };
  }
  const addresses = await resolveVetted(target, isAllowlisted(allow, target), resolver, signal);
  return { target, addresses };
}

/**
 * A `net.connect` lookup that ignores the name and answers with the vetted addresses. The socket still
 * connects "to the name", so TLS SNI, certificate checks and the Host header use the real host.
 */
export function pinnedLookup(addresses: readonly ResolvedAddress[]): LookupFunction {
  return (_hostname, options, callback) => {
    const first = addresses[0];
    if (options.all === true) {
      callback(
        null,
        addresses.map((a) => ({ address: a.address, family: a.family })),
      );
    } else if (first === undefined) {
      callback(new Error('no vetted address'), '', 4);
    } else {
      callback(null, first.address, first.family);
    }
  };
}
