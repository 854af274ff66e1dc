/** Keeping secrets out of messages: passwords inside URLs, and values of secret settings. */

/** `postgres://app:PASSWORD@host/db` → `postgres://app:***@host/db`, for every URL-like run in `text`. */
export function redactUrlPasswords(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s"']*):[^@/?#\s"']*@/gi, '$1:***@');
}
