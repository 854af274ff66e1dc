/**
 * The database did not answer: it refused or dropped the connection, or a statement got no reply within the
 * client's query timeout (a host that vanished without closing the connection). Callers retry later; the API
 * answers 503 `not_ready`. A statement the database answered with an error is never this.
 */
export class StoreUnavailableError extends Error {
  constructor(detail: string, cause: unknown) {
    super(`database unavailable: ${detail}`, { cause });
    this.name = 'StoreUnavailableError';
  }
}

/** True for a StoreUnavailableError (the store's own, not any error mentioning a database). */
export function isStoreUnavailable(err: unknown): err is StoreUnavailableError {
  return err instanceof StoreUnavailableError;
}
