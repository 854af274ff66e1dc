/**
 * The SSRF guard: every outbound request Arrakis makes to a user-supplied URL (input images, webhooks)
 * goes through `safeFetch`. One DNS resolution per hop, every address vetted, the socket pinned to the
 * vetted addresses, redirects followed by hand and re-vetted, time and size limits on everything.
 * See docs/security.md.
 */
import type { Readable } from 'node:stream';
import { Agent, request } from 'undici';
import { readLimited } from './body-reader.js';
import { FetchError } from './fetch-error.js';
import type { ImageType } from './image-sniff.js';
import {
  pinnedLookup,
  resolveTarget,
  systemResolver,
  type PinnedTarget,
  type Resolver,
} from './resolve-target.js';
import { parseFetchAllow, type FetchAllowlist } from './url-policy.js';

export { checkUrlAtSubmission } from './url-policy.js';

export const DEFAULT_MAX_BYTES = 25 * 1024 * 1024;
export const DEFAULT_MAX_REDIRECTS = 3;

export interface FetchTimeouts {
  /** TCP (and TLS) connect. */
  connectMs: number;
  /** From request sent to response headers received. */
  headersMs: number;
  /** Longest silence between two body chunks (a stalled body). */
  bodyIdleMs: number;
  /** The whole fetch, every redirect hop and DNS included. */
  totalMs: number;
}

export const DEFAULT_TIMEOUTS: Readonly<FetchTimeouts> = Object.freeze({
  connectMs: 10_000,
  headersMs: 15_000,
  bodyIdleMs: 15_000,
  totalMs: 60_000,
});

export interface SafeFetchOptions {
  /** `HOST:PORT` entries that may resolve to private or loopback addresses (`--fetch-allow`). */
  allow?: FetchAllowlist | readonly string[];
  maxBytes?: number;
  maxRedirects?: number;
  timeouts?: Partial<FetchTimeouts>;
  method?: 'GET' | 'POST' | 'PUT';
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** `image`: the body must sniff as PNG, JPEG, WebP or GIF (Content-Type is ignored). */
  expect?: 'image' | 'any';
  /** Throw `bad_status` on a non-2xx final response (default true); webhooks read the status instead. */
  rejectBadStatus?: boolean;
  signal?: AbortSignal;
  /** DNS resolver; the system one by default. */
  resolve?: Resolver;
  /** Extra trusted CA certificates (PEM) for HTTPS, e.g. an allowlisted internal host's private CA. */
  ca?: string | Buffer;
}

export interface SafeFetchResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** The URL that answered (after redirects). */
  url: string;
  /** The sniffed type for images, else the server's Content-Type header. */
  contentType: string | null;
  image: ImageType | null;
}

interface Settled {
  allow: FetchAllowlist;
  maxBytes: number;
  maxRedirects: number;
  timeouts: FetchTimeouts;
  expectImage: boolean;
  rejectBadStatus: boolean;
  resolve: Resolver;
  ca: string | Buffer | undefined;
}

interface Hop {
  url: string;
  method: 'GET' | 'POST' | 'PUT';
  headers: Record<string, string>;
  body: string | Buffer | undefined;
}

interface HopResponse {
  status: number;
  headers: Record<string, string>;
  body: Readable;
  close(): Promise<void>;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Headers that must not follow a redirect to another origin. */
const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'proxy-authorization'];

function settle(opts: SafeFetchOptions): Settled {
  const allow = opts.allow ?? [];
  return {
    allow: allow instanceof Set ? allow : parseFetchAllow([...allow]),
    maxBytes: opts.maxBytes ?? DEFAULT_MAX_BYTES,
    maxRedirects: opts.maxRedirects ?? DEFAULT_MAX_REDIRECTS,
    timeouts: { ...DEFAULT_TIMEOUTS, ...opts.timeouts },
    expectImage: opts.expect === 'image',
    rejectBadStatus: opts.rejectBadStatus ?? true,
    resolve: opts.resolve ?? systemResolver,
    ca: opts.ca,
  };
}

function flatHeaders(raw: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

/** One request to the pinned addresses through a private, single-use connection pool. */
async function send(pinned: PinnedTarget, hop: Hop, cfg: Settled, signal: AbortSignal): Promise<HopResponse> {
  const agent = new Agent({
    connect: {
      timeout: cfg.timeouts.connectMs,
      lookup: pinnedLookup(pinned.addresses),
      autoSelectFamily: true,
      ...(cfg.ca !== undefined ? { ca: cfg.ca } : {}),
    },
    headersTimeout: cfg.timeouts.headersMs,
    bodyTimeout: cfg.timeouts.bodyIdleMs,
    connections: 1,
  });
  const close = async (): Promise<void> => {
    await agent.destroy().catch(() => undefined);
  };
  try {
    const res = await request(pinned.target.url, {
      dispatcher: agent,
      method: hop.method,
      headers: { 'user-agent': 'arrakis-fetch/1', ...hop.headers },
      body: hop.body,
      signal,
    });
    return { status: res.statusCode, headers: flatHeaders(res.headers), body: res.body, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** The next hop of a redirect, or null when `res` is not one. */
function redirectHop(hop: Hop, res: HopResponse): Hop | null {
  const location = res.headers.location;
  if (!REDIRECTS.has(res.status) || location === undefined) return null;
  let next: URL;
  try {
    next = new URL(location, hop.url);
  } catch {
    throw new FetchError('fetch_failed', `redirect to an invalid location: ${location}`);
  }
  // 303 always, and 301/302 after a POST by long-standing practice, turn into a body-less GET.
  const toGet = res.status === 303 || ((res.status === 301 || res.status === 302) && hop.method !== 'GET');
  const headers = { ...hop.headers };
  if (next.origin !== new URL(hop.url).origin) {
    for (const name of Object.keys(headers))
      if (CREDENTIAL_HEADERS.includes(name.toLowerCase())) delete headers[name];
  }
  return {
    url: next.toString(),
    method: toGet ? 'GET' : hop.method,
    headers,
    body: toGet ? undefined : hop.body,
  };
}

async function finish(hop: Hop, res: HopResponse, cfg: Settled): Promise<SafeFetchResponse> {
  if (cfg.rejectBadStatus && (res.status < 200 || res.status > 299)) {
    throw new FetchError('bad_status', `${hop.url} answered HTTP ${res.status}`, { status: res.status });
  }
  const declared = Number(res.headers['content-length']);
  const read = await readLimited(res.body, {
    maxBytes: cfg.maxBytes,
    expectImage: cfg.expectImage,
    declaredLength: Number.isFinite(declared) ? declared : null,
  });
  return {
    status: res.status,
    headers: res.headers,
    body: read.bytes,
    url: hop.url,
    contentType: read.image?.contentType ?? res.headers['content-type'] ?? null,
    image: read.image,
  };
}

async function run(first: Hop, cfg: Settled, signal: AbortSignal): Promise<SafeFetchResponse> {
  let hop = first;
  for (let redirects = 0; ; redirects++) {
    const pinned = await resolveTarget(hop.url, cfg.allow, cfg.resolve, signal);
    const res = await send(pinned, hop, cfg, signal);
    try {
      const next = redirectHop(hop, res);
      if (next === null) return await finish(hop, res, cfg);
      if (redirects >= cfg.maxRedirects) {
        throw new FetchError('too_many_redirects', `more than ${cfg.maxRedirects} redirects`);
      }
      hop = next;
    } finally {
      await res.close();
    }
  }
}

function errorCode(err: unknown): string | undefined {
  return err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

const UNDICI_TIMEOUTS = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

function toFetchError(err: unknown, totalTimedOut: boolean, cfg: Settled): FetchError {
  if (err instanceof FetchError) return err;
  if (totalTimedOut)
    return new FetchError('timeout', `no complete response within ${cfg.timeouts.totalMs} ms`);
  const code = errorCode(err);
  const message = err instanceof Error ? err.message : String(err);
  if (code !== undefined && UNDICI_TIMEOUTS.has(code))
    return new FetchError('timeout', message, { cause: err });
  return new FetchError('fetch_failed', message, { cause: err });
}

/**
 * Fetches a user-supplied URL safely (see the module comment). Throws FetchError with a stable code:
 * url_blocked, fetch_failed, too_large, timeout, too_many_redirects, bad_status, unsupported_type.
 */
export async function safeFetch(url: string, opts: SafeFetchOptions = {}): Promise<SafeFetchResponse> {
  const cfg = settle(opts);
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(new Error('total timeout')), cfg.timeouts.totalMs);
  const signal = opts.signal ? AbortSignal.any([deadline.signal, opts.signal]) : deadline.signal;
  const first: Hop = { url, method: opts.method ?? 'GET', headers: opts.headers ?? {}, body: opts.body };
  try {
    return await run(first, cfg, signal);
  } catch (err) {
    throw toFetchError(err, deadline.signal.aborted, cfg);
  } finally {
    clearTimeout(timer);
  }
}
