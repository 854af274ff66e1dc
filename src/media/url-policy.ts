/**
 * URL rules that can be decided without DNS: scheme, credentials, host spelling, literal IPs, `localhost`,
 * and the `--fetch-allow HOST:PORT` allowlist. The WHATWG parser (`new URL`) already folds every spelling
 * of an IPv4 host (decimal, octal, hex, short, percent-encoded, full-width digits) into a dotted quad and
 * every Unicode host into punycode, so classifying its `hostname` covers them all.
 */
import { classifyAddress, normalizeAddress } from './ip-classifier.js';

/** The vetted parts of a URL Arrakis may fetch. `ip` is set when the host is a literal address. */
export interface UrlTarget {
  url: URL;
  /** Lower-case host without IPv6 brackets or a trailing dot. */
  hostname: string;
  port: number;
  ip: string | null;
}

export type UrlHostResult = { ok: true; target: UrlTarget } | { ok: false; reason: string };

/** `HOST:PORT` entries (normalised) whose addresses may be private or loopback. */
export type FetchAllowlist = ReadonlySet<string>;

function allowKey(hostname: string, port: number): string {
  return `${hostname}:${port}`;
}

function stripHost(host: string): string {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return bare.endsWith('.') ? bare.slice(0, -1) : bare;
}

/** Parses and vets the syntax of a fetch URL: http(s) only, no userinfo, a host present. */
export function parseUrlHost(raw: string): UrlHostResult {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: 'not a valid absolute URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { ok: false, reason: `scheme ${url.protocol} is not allowed (use http or https)` };
  }
  if (url.username !== '' || url.password !== '') {
    return { ok: false, reason: 'URLs with credentials (user:password@) are not allowed' };
  }
  const hostname = stripHost(url.hostname);
  if (hostname === '') return { ok: false, reason: 'the URL has no host' };
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  const ip = normalizeAddress(hostname) === null ? null : hostname;
  return { ok: true, target: { url, hostname, port, ip } };
}

/**
 * Parses `--fetch-allow` entries (`host:port`, `[v6]:port`). Hosts are normalised the way URLs are,
 * so `0x7f.1:9000` and `127.0.0.1:9000` are the same entry.
 * @throws Error naming the setting when an entry is malformed.
 */
export function parseFetchAllow(entries: readonly string[]): FetchAllowlist {
  const out = new Set<string>();
  for (const entry of entries) {
    const m = /^(\[[^\]]+\]|[^:/\s[\]@]+):(\d{1,5})$/.exec(entry.trim());
    const port = m ? Number(m[2]) : NaN;
    let host: string | null = null;
    if (m && port >= 1 && port <= 65535) {
      try {
        host = stripHost(new URL(`http://${m[1]}/`).hostname);
      } catch {
        host = null;
      }
    }
    if (host === null || host === '') {
      throw new Error(
        `--fetch-allow (ARRAKIS_FETCH_ALLOW): "${entry}" is not HOST:PORT (e.g. minio.internal:9000)`,
      );
    }
    out.add(allowKey(host, port));
  }
  return out;
}

/** True when the target's `host:port` is on the allowlist. */
export function isAllowlisted(allow: FetchAllowlist, target: UrlTarget): boolean {
  return allow.has(allowKey(target.hostname, target.port));
}

function isLocalhostName(hostname: string): boolean {
  return hostname === 'localhost' || hostname.endsWith('.localhost');
}

/**
 * The reason a URL can never be fetched, decided without DNS (bad scheme, credentials, `localhost`,
 * a literal non-public IP in any spelling), or null when it may be fetched (DNS is checked at fetch time).
 */
export function checkUrlAtSubmission(
  raw: string,
  allow: FetchAllowlist | readonly string[] = [],
): string | null {
  const parsed = parseUrlHost(raw);
  if (!parsed.ok) return parsed.reason;
  const list = allow instanceof Set ? allow : parseFetchAllow([...allow]);
  return vetHostLiteral(parsed.target, list);
}

/** The DNS-free part of vetting a target: null when it may proceed to resolution. */
export function vetHostLiteral(target: UrlTarget, allow: FetchAllowlist): string | null {
  if (isAllowlisted(allow, target)) return null;
  if (isLocalhostName(target.hostname)) return `${target.hostname} is a loopback name`;
  if (target.ip !== null) {
    const verdict = classifyAddress(target.ip);
    if (!verdict.public) return `${target.ip} is a ${verdict.range} address`;
  }
  return null;
}
