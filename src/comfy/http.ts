/**
 * HTTP to one ComfyUI server: every call has a timeout, and anything that is not a ComfyUI answer (connection
 * refused, timeout, unexpected status, a body that does not parse) becomes a ComfyUnavailableError.
 */
import { Agent, fetch, type FormData, type Response } from 'undici';
import type { z } from 'zod';
import { ComfyUnavailableError } from './contract.js';

export interface RequestOptions {
  method?: 'GET' | 'POST';
  query?: Record<string, string>;
  json?: unknown;
  form?: FormData;
}

export class ComfyHttp {
  readonly baseUrl: string;
  private readonly timeoutMs: number;
  /** Own connection pool, so close() leaves no keep-alive sockets behind. */
  private readonly agent = new Agent({ keepAliveTimeout: 4_000, connections: 16 });

  constructor(baseUrl: string, timeoutMs: number) {
    this.baseUrl = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
    this.timeoutMs = timeoutMs;
  }

  /** The absolute URL of a server path (kept relative so a base URL with a path prefix works). */
  url(path: string, query: Record<string, string> = {}): URL {
    const url = new URL(path.replace(/^\//, ''), this.baseUrl);
    for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
    return url;
  }

  /** Sends one request; network failures and timeouts become ComfyUnavailableError. */
  async request(path: string, options: RequestOptions = {}): Promise<Response> {
    const { method = 'GET', query, json, form } = options;
    const url = this.url(path, query);
    try {
      return await fetch(url, {
        method,
        dispatcher: this.agent,
        signal: AbortSignal.timeout(this.timeoutMs),
        ...(json !== undefined
          ? { body: JSON.stringify(json), headers: { 'content-type': 'application/json' } }
          : form !== undefined
            ? { body: form }
            : {}),
      });
    } catch (cause) {
      throw new ComfyUnavailableError(`${method} ${url.pathname} failed: ${errorText(cause)}`, { cause });
    }
  }

  /** Reads a JSON body and parses it with a schema; anything else means this is not a ComfyUI answer. */
  async readJson<S extends z.ZodType>(response: Response, schema: S, what: string): Promise<z.output<S>> {
    let body: unknown;
    try {
      body = await response.json();
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
    await response.arrayBuffer().catch(() => undefined);
  }

  /** Drops every connection at once: in-flight calls fail (as ComfyUnavailableError) instead of delaying close. */
  async close(): Promise<void> {
    await this.agent.destroy();
  }
}

/** Throws ComfyUnavailableError unless the status is 2xx (the body is drained first). */
export async function expectOk(response: Response, what: string): Promise<void> {
  if (response.ok) return;
  const text = await response.text().catch(() => '');
  throw new ComfyUnavailableError(`${what} answered ${response.status} ${text.slice(0, 200)}`.trim());
}

/** A short readable reason for an unknown thrown value. */
export function errorText(cause: unknown): string {
  if (cause instanceof Error) {
    const inner = cause.cause instanceof Error ? ` (${cause.cause.message})` : '';
    return `${cause.message}${inner}`;
  }
  return String(cause);
}
