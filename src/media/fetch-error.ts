/** The one error type safe fetch throws: a stable code the caller maps to its own (job or API) error. */

export const FETCH_ERROR_CODES = [
  'url_blocked',
  'fetch_failed',
  'too_large',
  'timeout',
  'too_many_redirects',
  'bad_status',
  'unsupported_type',
] as const;

export type FetchErrorCode = (typeof FETCH_ERROR_CODES)[number];

export class FetchError extends Error {
  readonly code: FetchErrorCode;
  /** The HTTP status for `bad_status`. */
  readonly status: number | undefined;

  constructor(code: FetchErrorCode, message: string, options: { status?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FetchError';
    this.code = code;
    this.status = options.status;
  }
}
