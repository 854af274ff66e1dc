/**
 * Every error Arrakis reports, to API clients (RFC 9457 problem+json) or inside a job's `error`,
 * has one stable machine code from this table. docs/errors.md documents the same list, and a test
 * keeps the two in sync: add a code here and there together.
 */
export const API_ERRORS = {
  validation_failed: { status: 400, title: 'The request is invalid' },
  invalid_user_id: { status: 400, title: 'The X-User-ID header is missing or malformed' },
  url_blocked: { status: 400, title: 'A URL points somewhere Arrakis never connects to' },
  input_invalid: { status: 400, title: 'An input file is not an image Arrakis can use' },
  unauthorized: { status: 401, title: 'Missing or invalid credentials' },
  insufficient_scope: { status: 403, title: 'The credentials lack a required scope' },
  user_mismatch: { status: 403, title: 'user_id does not match the acting user' },
  not_found: { status: 404, title: 'Not found' },
  job_finished: { status: 409, title: 'The job has already finished' },
  idempotency_conflict: { status: 409, title: 'The Idempotency-Key was used with a different body' },
  conflict: { status: 409, title: 'The resource already exists or changed' },
  payload_too_large: { status: 413, title: 'The request body is too large' },
  unsupported_media_type: { status: 415, title: 'The request body must be JSON or multipart/form-data' },
  workflow_invalid: { status: 422, title: 'The workflow cannot run' },
  workflow_too_large: { status: 422, title: 'The workflow has more nodes or links than allowed' },
  template_not_found: { status: 422, title: 'No template has that name' },
  pool_unknown: { status: 422, title: 'No worker or fleet pool has that name' },
  model_unavailable: { status: 422, title: 'No worker can load a model file the workflow needs' },
  quota_exceeded: { status: 429, title: 'Too many active jobs' },
  rate_limited: { status: 429, title: 'Too many requests' },
  internal_error: { status: 500, title: 'Internal error' },
  not_ready: { status: 503, title: 'The service is not ready' },
} as const;

export type ApiErrorCode = keyof typeof API_ERRORS;

/** Codes a failed job carries in `error.code` (never an HTTP status of their own). */
export const JOB_ERRORS = {
  worker_lost: 'The worker running the job stopped answering and the retry budget is spent',
  workflow_invalid: 'ComfyUI rejected the workflow',
  execution_error: 'A node raised an error while running',
  timeout: 'The job ran longer than the per-job timeout',
  input_fetch_blocked: 'An input URL resolved or redirected to an address Arrakis never connects to',
  input_fetch_failed: 'An input URL could not be fetched (status, size, time or type limit)',
  input_invalid: 'An input file is not a decodable image',
  output_store_failed: 'The outputs could not be written to storage',
  output_refused:
    "Every file the workflow's nodes named was refused as not this job's (outside its own folder)",
  model_fetch_failed: 'A model file the job loads could not be fetched onto the worker',
} as const;

export type JobErrorCode = keyof typeof JOB_ERRORS;

/** An error with a stable code that the API layer turns into problem+json. */
export class ApiError extends Error {
  readonly code: ApiErrorCode;
  readonly status: number;
  readonly extra: Readonly<Record<string, unknown>>;
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    code: ApiErrorCode,
    detail: string,
    extra: Record<string, unknown> = {},
    headers: Record<string, string> = {},
  ) {
    super(detail);
    this.name = 'ApiError';
    this.code = code;
    this.status = API_ERRORS[code].status;
    this.extra = extra;
    this.headers = headers;
  }
}
