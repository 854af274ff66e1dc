/**
 * The webhook transport: one POST through the SSRF guard (`safeFetch`), which re-resolves and re-vets the
 * receiver's address on every attempt. Redirects are refused (a receiver must give its final URL, and a
 * redirect is a classic way to bounce a request into a private network), non-2xx statuses are returned
 * rather than thrown, and the response body is read only up to a small cap, then dropped.
 */
import { FetchError } from '../media/fetch-error.js';
import { parseFetchAllow } from '../media/url-policy.js';
import { safeFetch } from '../media/safe-fetch.js';
import type { WebhookFetch } from './attempt.js';

/** Receivers answer with a status; a body beyond this is not worth memory (it counts as a failed attempt). */
export const WEBHOOK_MAX_RESPONSE_BYTES = 64 * 1024;
const MAX_CONNECT_MS = 10_000;

/** A WebhookFetch that goes through safeFetch with `allow` (`--fetch-allow` HOST:PORT entries). */
export function safeWebhookFetch(allow: readonly string[]): WebhookFetch {
  const allowlist = parseFetchAllow(allow);
  return async ({ url, headers, body, timeoutMs, signal }) => {
    try {
      const response = await safeFetch(url, {
        allow: allowlist,
        method: 'POST',
        headers,
        body,
        maxBytes: WEBHOOK_MAX_RESPONSE_BYTES,
        maxRedirects: 0,
        rejectBadStatus: false,
        timeouts: {
          connectMs: Math.min(MAX_CONNECT_MS, timeoutMs),
          headersMs: timeoutMs,
          bodyIdleMs: timeoutMs,
          totalMs: timeoutMs,
        },
        signal,
      });
      return { status: response.status, retryAfter: response.headers['retry-after'] ?? null };
    } catch (error) {
      // With no redirects allowed, safeFetch reports any 3xx as too many redirects; say what happened.
      if (error instanceof FetchError && error.code === 'too_many_redirects') {
        throw new FetchError('bad_status', 'the receiver redirected; webhook redirects are not followed');
      }
      throw error;
    }
  };
}
