/** The one error type `arrakis/client` throws for a failed call: the server's problem+json, or why none came. */
import type { ApiErrorCode } from '../errors.js';
import type { Problem } from '../api/wire/problem.js';

/** Codes the client itself reports when no problem+json answer arrived. */
export type ClientErrorCode = 'network_error' | 'invalid_response' | 'timeout' | 'aborted';

export class ArrakisError extends Error {
  /** HTTP status; 0 when no answer arrived (network error, timeout, abort). */
  readonly status: number;
  readonly code: ApiErrorCode | ClientErrorCode;
  /** Seconds to wait before retrying (from `Retry-After`), or null. */
  readonly retryAfter: number | null;
  /** The server's human explanation: what went wrong and what to do. */
  readonly detail: string;
  /** The whole problem+json body, when there was one (field errors, node ids, …). */
  readonly problem: Problem | null;

  constructor(init: {
    status: number;
    code: ApiErrorCode | ClientErrorCode;
    detail: string;
    retryAfter?: number | null;
    problem?: Problem | null;
    cause?: unknown;
  }) {
    super(`${init.code}: ${init.detail}`, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'ArrakisError';
    this.status = init.status;
    this.code = init.code;
    this.detail = init.detail;
    this.retryAfter = init.retryAfter ?? null;
    this.problem = init.problem ?? null;
  }
}

/** `Retry-After` as seconds: delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | null {
  if (value === null) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - now) / 1000));
}
