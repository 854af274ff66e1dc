/**
 * HTTP to one ComfyUI server: every call has a timeout, and anything that is not a ComfyUI answer (connection
 * refused, timeout, unexpected status, a body that does not parse) becomes a ComfyUnavailableError.
 *
 * Built on undici's dispatcher-level `request` rather than `fetch`: no WHATWG streams or Response objects on the
 * hot path (every job's POST /prompt and GET /view), and a JSON body goes out as one buffer with its headers.
 * Redirects are not followed (ComfyUI does not redirect its API; a 3xx is an unexpected status).
 *
 * Time bounds: the headers must come within the timeout, and a body that stops (no bytes for the timeout: undici's
 * headersTimeout/bodyTimeout are idle timers) fails. An API call is also bound as a whole by the timeout (its
 * answers are small); a file transfer (a `/view` download: a video, a big batch) is not cut off while its bytes
 * keep coming, only by the caller's signal (a job's timeout, cancel or shutdown) and a generous cap. An upload
 * (`POST /upload/image`) is bound as a whole by the timeout plus 1 s per MiB it sends, at most the cap, and by
 * the caller's signal. Each call's bound is cleared as soon as its body is read or dropped (no timer is left
 * pending for the length of a bound the call no longer needs).
 */
import { Agent, type Dispatcher, type FormData } from 'undici';
import type { z } from 'zod';
import { callBound } from '../util/call-bound.js';
import { ComfyUnavailableError, OutputTooLargeError } from './contract.js';

export interface RequestOptions {
  method?: 'GET' | 'POST';
  query?: Record<string, string>;
  json?: unknown;
  form?: FormData;
  /** A file transfer: the idle bounds, `signal` and the transfer cap apply, not the call's overall timeout. */
  transfer?: boolean;
  /** An upload of this many bytes: the whole call may take uploadLimitMs (the timeout grown with the size). */
  uploadBytes?: number;
  /** Ends the call, body included, when aborted (a job stopped while its outputs download). */
  signal?: AbortSignal;
}

/** The longest a file transfer may take even while its bytes keep coming (a job's own timeout is usually sooner). */
export const TRANSFER_CAP_MS = 3_600_000;

const MIB = 1024 * 1024;

/**
 * The whole-call bound of an upload of `bytes`: the API timeout plus 1 s per MiB started (a large input on a slow
 * link is not cut off at the timeout), at most `capMs`.
 */
export function uploadLimitMs(bytes: number, timeoutMs: number, capMs: number): number {
  return Math.min(timeoutMs + Math.ceil(bytes / MIB) * 1_000, capMs);
}

/**
 * One answer: its status and a body to read exactly once, through ComfyHttp's readers or expectOk (so that read
 * failures become ComfyUnavailableError and the connection goes back to the pool). The call's bounds keep
 * running until the body is read.
 */
export interface ComfyResponse {
  readonly status: number;
  readonly body: Dispatcher.ResponseData['body'];
}

export class ComfyHttp {
  readonly baseUrl: string;
  private readonly timeoutMs: number;
  private readonly transferCapMs: number;
  /** Own connection pool, so close() leaves no keep-alive sockets behind. */
  private readonly agent: Agent;

  /** `timeoutMs` bounds the wait for headers, each pause in a body, and an API call as a whole. */
  constructor(baseUrl: string, timeoutMs: number, transferCapMs = TRANSFER_CAP_MS) {
    this.baseUrl = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
    this.timeoutMs = timeoutMs;
    this.transferCapMs = transferCapMs;
    this.agent = new Agent({
      keepAliveTimeout: 4_000,
      connections: 16,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
  }

  /** The absolute URL of a server path (kept relative so a base URL with a path prefix works). */
  url(path: string, query: Record<string, string> = {}): URL {
    const url = new URL(path.replace(/^\//, ''), this.baseUrl);
    for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
    return url;
  }

  /**
   * Sends one request; network failures and timeouts become ComfyUnavailableError. An API call's timeout covers
   * the whole call (an answer whose body is still arriving when it fires fails the body read); a transfer's
   * body may take longer while it keeps arriving (see the header).
   */
  async request(path: string, options: RequestOptions = {}): Promise<ComfyResponse> {
    const { method = 'GET', query, json, form } = options;
    const url = this.url(path, query);
    const bound = callBound(this.limitMs(options), options.signal);
    try {
      const { statusCode, body } = await this.agent.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method,
        signal: bound.signal,
        // A string body is written with its headers in one go; FormData is encoded by undici (with its boundary).
        ...(json !== undefined
          ? { body: JSON.stringify(json), headers: { 'content-type': 'application/json' } }
          : form !== undefined
            ? { body: form }
            : {}),
      });
      // The bound holds until the body is done with: read to its end, cut off, or failed.
      if (body.destroyed) bound.end();
      else body.once('close', bound.end);
      return { status: statusCode, body };
    } catch (cause) {
      bound.end();
      throw new ComfyUnavailableError(`${method} ${url.pathname} failed: ${this.reason(cause)}`, { cause });
    }
  }

  /** How long the call may take as a whole, body included (see the header). */
  private limitMs(options: RequestOptions): number {
    if (options.transfer === true) return this.transferCapMs;
    if (options.uploadBytes !== undefined) {
      return uploadLimitMs(options.uploadBytes, this.timeoutMs, this.transferCapMs);
    }
    return this.timeoutMs;
  }

  /** Reads a JSON body and parses it with a schema; anything else means this is not a ComfyUI answer. */
  async readJson<S extends z.ZodType>(
    response: ComfyResponse,
    schema: S,
    what: string,
  ): Promise<z.output<S>> {
    const text = await this.readBody(response.body.text(), what);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (cause) {
      throw new ComfyUnavailableError(`${what}: the answer is not JSON (status ${response.status})`, {
        cause,
      });
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      throw new ComfyUnavailableError(
        `${what}: not a ComfyUI answer (${parsed.error.issues[0]?.message ?? ''})`,
      );
    }
    return parsed.data;
  }

  /**
   * Reads a whole body as bytes (a file from /view); past `maxBytes` it stops reading (the body is destroyed, so
   * its connection is closed) and throws OutputTooLargeError.
   */
  async readBytes(response: ComfyResponse, what: string, maxBytes = Infinity): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let size = 0;
    const reading = (async () => {
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        // Leaving the loop destroys the body: nothing more is read.
        if (size > maxBytes) return null;
        chunks.push(chunk);
      }
      return Buffer.concat(chunks, size);
    })();
    const bytes = await this.readBody(reading, what);
    if (bytes === null) throw new OutputTooLargeError(what, maxBytes);
    return bytes;
  }

  /** GET a JSON resource that must answer 200. */
  async getJson<S extends z.ZodType>(
    path: string,
    schema: S,
    query?: Record<string, string>,
  ): Promise<z.output<S>> {
    const response = await this.request(path, query === undefined ? {} : { query });
    await expectOk(response, `GET ${path}`);
    return this.readJson(response, schema, `GET ${path}`);
  }

  /** POST a JSON body whose answer is ignored beyond its status (ComfyUI answers these with an empty 200). */
  async postCommand(path: string, json: unknown): Promise<void> {
    const response = await this.request(path, { method: 'POST', json });
    await expectOk(response, `POST ${path}`);
    // Read to the end so the connection is reused (an unexpectedly large answer just closes it).
    await response.body.dump().catch(() => undefined);
  }

  /** Drops every connection at once: in-flight calls fail (as ComfyUnavailableError) instead of delaying close. */
  async close(): Promise<void> {
    await this.agent.destroy();
  }

  /** A body read whose failure (timeout, dropped connection, close()) means the server is unavailable. */
  private async readBody<T>(reading: Promise<T>, what: string): Promise<T> {
    try {
      return await reading;
    } catch (cause) {
      throw new ComfyUnavailableError(`${what} failed: ${this.reason(cause)}`, { cause });
    }
  }

  /** Why a call failed; undici's idle timeouts (the cause keeps their stable code) say what stopped and how long. */
  private reason(cause: unknown): string {
    const code = cause instanceof Error && 'code' in cause ? cause.code : undefined;
    if (code === 'UND_ERR_HEADERS_TIMEOUT') return `no answer within ${this.timeoutMs} ms (headers timeout)`;
    if (code === 'UND_ERR_BODY_TIMEOUT') return `no bytes for ${this.timeoutMs} ms (body timeout)`;
    return errorText(cause);
  }
}

/**
 * How much of an error answer is read for its message. ComfyUI's own error bodies are short; a broken or hostile
 * server may send an endless one, which must not be buffered whole.
 */
export const ERROR_BODY_CAP = 8 * 1024;

/**
 * Throws ComfyUnavailableError unless the status is 2xx. The error body is read up to ERROR_BODY_CAP: one that
 * ends within it is read to the end (the socket is reused), a longer one is cut off (its connection is closed).
 */
export async function expectOk(response: ComfyResponse, what: string): Promise<void> {
  if (response.status >= 200 && response.status < 300) return;
  const text = await readCapped(response.body, ERROR_BODY_CAP);
  throw new ComfyUnavailableError(`${what} answered ${response.status} ${text.slice(0, 200)}`.trim());
}

/**
 * The first `cap` bytes of a body as text; the rest is never read (the body is destroyed). Never throws. Also
 * the remote agent's reader of worker API error answers (agent/remote-job-channel.ts).
 */
export async function readCapped(body: ComfyResponse['body'], cap: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer | string>) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      chunks.push(bytes);
      size += bytes.length;
      // Leaving the loop destroys the body: undici closes the connection instead of reading the rest.
      if (size >= cap) break;
    }
  } catch {
    // A body that fails midway (a timeout, a reset) still gives what came before.
  }
  return Buffer.concat(chunks).subarray(0, cap).toString('utf8');
}

/** A short readable reason for an unknown thrown value. */
export function errorText(cause: unknown): string {
  if (cause instanceof Error) {
    const inner = cause.cause instanceof Error ? ` (${cause.cause.message})` : '';
    return `${cause.message}${inner}`;
  }
  return String(cause);
}
