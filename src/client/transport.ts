/**
 * The HTTP core of `arrakis/client`: base URL, auth headers, problem+json → ArrakisError, and responses parsed
 * with the wire schemas (never cast). fetch only, so it runs in Node ≥ 20, Deno, Bun and browsers.
 */
import type { z } from 'zod';
import { problemSchema } from '../api/wire/problem.js';
import { ArrakisError, parseRetryAfter } from './errors.js';

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface TransportOptions {
  baseUrl: string;
  /** Sent on every request (auth). */
  headers: Record<string, string>;
  fetch?: FetchLike | undefined;
}

export interface RequestOptions {
  body?: unknown;
  /** A FormData body (multipart); wins over `body`. */
  form?: FormData | undefined;
  headers?: Record<string, string> | undefined;
  signal?: AbortSignal | undefined;
  redirect?: 'follow' | 'manual' | 'error' | undefined;
}

function isAbort(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError');
}

/** Turns a thrown fetch failure into an ArrakisError (status 0). */
export function networkError(err: unknown, signal?: AbortSignal): ArrakisError {
  if (err instanceof ArrakisError) return err;
  if (isAbort(err) || signal?.aborted === true) {
    const timeout = signal?.reason instanceof Error && signal.reason.name === 'TimeoutError';
    return new ArrakisError({
      status: 0,
      code: timeout ? 'timeout' : 'aborted',
      detail: timeout ? 'The call timed out.' : 'The call was aborted.',
      cause: err,
    });
  }
  const detail = err instanceof Error ? err.message : String(err);
  return new ArrakisError({
    status: 0,
    code: 'network_error',
    detail: `No answer from the server: ${detail}`,
    cause: err,
  });
}

/** The ArrakisError for a non-2xx response (reads its body). */
export async function errorFromResponse(res: Response): Promise<ArrakisError> {
  const text = await res.text().catch(() => '');
  let json: unknown = null;
  try {
    json = text === '' ? null : JSON.parse(text);
  } catch {
    json = null;
  }
  const retryAfter = parseRetryAfter(res.headers.get('retry-after'));
  const parsed = problemSchema.safeParse(json);
  if (parsed.success) {
    return new ArrakisError({
      status: res.status,
      code: parsed.data.code,
      detail: parsed.data.detail,
      retryAfter,
      problem: parsed.data,
    });
  }
  return new ArrakisError({
    status: res.status,
    code: 'invalid_response',
    detail: `HTTP ${res.status} without a problem+json body${text === '' ? '' : `: ${text.slice(0, 200)}`}`,
    retryAfter,
  });
}

export class Transport {
  readonly baseUrl: string;
  private readonly headers: Record<string, string>;
  private readonly fetchImpl: FetchLike;

  constructor(options: TransportOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.headers = options.headers;
    this.fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  /** Absolute URL of an API path (or `path` itself when already absolute). */
  url(path: string): string {
    return /^https?:\/\//i.test(path) ? path : `${this.baseUrl}${path}`;
  }

  /** One request; returns the raw response whatever its status. Network failures throw ArrakisError. */
  async send(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { ...this.headers, ...options.headers };
    let body: string | FormData | undefined;
    if (options.form !== undefined) body = options.form;
    else if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.body);
    }
    try {
      return await this.fetchImpl(this.url(path), {
        method,
        headers,
        ...(body === undefined ? {} : { body }),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
        ...(options.redirect === undefined ? {} : { redirect: options.redirect }),
      });
    } catch (err) {
      throw networkError(err, options.signal);
    }
  }

  /** A plain GET of an absolute URL without the API credentials (presigned storage URLs). */
  async fetchUnauthenticated(url: string, signal?: AbortSignal): Promise<Response> {
    try {
      return await this.fetchImpl(url, signal === undefined ? {} : { signal });
    } catch (err) {
      throw networkError(err, signal);
    }
  }

  /** A request whose 2xx JSON answer is parsed with `schema`; anything else throws ArrakisError. */
  async json<S extends z.ZodType>(
    method: string,
    path: string,
    schema: S,
    options: RequestOptions = {},
  ): Promise<{ data: z.output<S>; response: Response }> {
    const res = await this.send(method, path, {
      ...options,
      headers: { accept: 'application/json', ...options.headers },
    });
    if (!res.ok) throw await errorFromResponse(res);
    let json: unknown;
    try {
      json = await res.json();
    } catch (err) {
      if (!(err instanceof SyntaxError)) throw networkError(err, options.signal);
      throw new ArrakisError({
        status: res.status,
        code: 'invalid_response',
        detail: 'The answer is not JSON.',
      });
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      throw new ArrakisError({
        status: res.status,
        code: 'invalid_response',
        detail: `The answer to ${method} ${path} does not match the API schema: ${parsed.error.message}`,
      });
    }
    return { data: parsed.data, response: res };
  }

  /** A request expecting an empty 2xx answer (204). */
  async empty(method: string, path: string, options: RequestOptions = {}): Promise<void> {
    const res = await this.send(method, path, options);
    if (!res.ok) throw await errorFromResponse(res);
    await res.body?.cancel();
  }
}
