/** Errors of model sources; URLs in them are always redacted (user info and query are credentials). */

/** `url` without user info or query: safe for logs and error messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(unparseable URL)';
  }
}

/** Thrown when a source cannot be opened; the message names the redacted URL only. */
export class ModelSourceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelSourceError';
  }
}
