/**
 * One delivery attempt: sign the payload, POST it once, and classify what happened.
 * Knows no database and no schedule; the deliverer records the outcome and decides what comes next.
 */
import type { Account } from '../jobs/types.js';
import type { WebhookDelivery } from '../store/contract.js';
import { signWebhook, signingSecrets } from './sign.js';

/** What a webhook POST reports back: the status and the one header we act on. The body is never kept. */
export interface WebhookResponse {
  status: number;
  retryAfter: string | null;
}

export interface WebhookRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  /** Aborted when the deliverer stops. */
  signal: AbortSignal;
}

/** Sends one webhook POST; rejects on a blocked URL, a connection error or a timeout. */
export type WebhookFetch = (request: WebhookRequest) => Promise<WebhookResponse>;

export type AttemptOutcome =
  | { kind: 'delivered'; statusCode: number }
  /** 410 Gone: the receiver asks us to stop sending to this URL. */
  | { kind: 'gone'; statusCode: number }
  | { kind: 'retry'; statusCode: number | null; error: string; retryAfter: string | null };

export interface AttemptInput {
  delivery: WebhookDelivery;
  account: Account;
  fetch: WebhookFetch;
  timeoutMs: number;
  signal: AbortSignal;
  now: number;
}

/** The JSON body receivers get; the payload's shape is fixed by the store when it enqueues the delivery. */
export function webhookBody(delivery: WebhookDelivery): string {
  return JSON.stringify(delivery.payload);
}

/** Performs one attempt. Never rejects: every failure becomes a `retry` outcome with a reason. */
export async function attemptDelivery(input: AttemptInput): Promise<AttemptOutcome> {
  const { delivery, account, now } = input;
  const body = webhookBody(delivery);
  const headers = {
    'content-type': 'application/json',
    'user-agent': 'Arrakis-Webhooks/1',
    ...signWebhook(delivery.id, body, signingSecrets(account, now), now),
  };
  try {
    const response = await withDeadline(
      input.fetch({ url: delivery.url, headers, body, timeoutMs: input.timeoutMs, signal: input.signal }),
      input.timeoutMs,
      input.signal,
    );
    return classify(response);
  } catch (error) {
    return { kind: 'retry', statusCode: null, error: describeError(error), retryAfter: null };
  }
}

function classify(response: WebhookResponse): AttemptOutcome {
  const { status } = response;
  if (status >= 200 && status < 300) return { kind: 'delivered', statusCode: status };
  if (status === 410) return { kind: 'gone', statusCode: status };
  // Redirects are not followed for webhooks: the receiver must give its final URL.
  const error =
    status >= 300 && status < 400 ? `redirect_not_followed: HTTP ${status}` : `http_status: HTTP ${status}`;
  return { kind: 'retry', statusCode: status, error, retryAfter: response.retryAfter };
}

/** A short, stable reason for the attempt log: the error's code when it has one, then its message. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = 'code' in error && typeof error.code === 'string' ? error.code : error.name;
    return `${code}: ${error.message}`.slice(0, 500);
  }
  return `error: ${String(error)}`.slice(0, 500);
}

/** How long past its own timeout a transport may take before the attempt is abandoned anyway. */
const DEADLINE_GRACE_MS = 2000;

/**
 * Races the transport against a hard deadline and the stop signal, so a transport that ignores its own
 * timeout (or a receiver that trickles bytes forever) can never hold a delivery slot.
 */
async function withDeadline<T>(work: Promise<T>, timeoutMs: number, signal: AbortSignal): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(namedError('timeout', `no answer within ${timeoutMs} ms`)),
      timeoutMs + DEADLINE_GRACE_MS,
    );
    onAbort = () => reject(namedError('aborted', 'the deliverer is stopping'));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  // The loser of the race must not surface as an unhandled rejection.
  work.catch(() => {});
  try {
    return await Promise.race([work, guard]);
  } finally {
    clearTimeout(timer);
    if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
  }
}

function namedError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}
