/**
 * Standard Webhooks verification with WebCrypto (no Node crypto): `webhook-signature` holds one or more
 * space-separated `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` (two during a secret rotation).
 */
import { webhookEventSchema, type WebhookEvent } from '../api/wire/events.js';

/** Why a delivery was refused; receivers should answer such a request with 400 and not act on it. */
export class WebhookVerificationError extends Error {
  readonly reason: 'missing_headers' | 'bad_signature' | 'stale_timestamp' | 'invalid_body';
  constructor(reason: WebhookVerificationError['reason'], message: string) {
    super(message);
    this.name = 'WebhookVerificationError';
    this.reason = reason;
  }
}

export type WebhookHeadersInput = Headers | Record<string, string | string[] | undefined>;

export interface VerifyWebhookOptions {
  /** How far the signed timestamp may be from now, either way (default 300 s, as Standard Webhooks advises). */
  toleranceSeconds?: number;
  /** Current time in epoch milliseconds (tests). */
  now?: number;
}

function header(headers: WebhookHeadersInput, name: string): string | null {
  if (typeof Headers !== 'undefined' && headers instanceof Headers) return headers.get(name);
  const record = headers as Record<string, string | string[] | undefined>;
  const key = Object.keys(record).find((k) => k.toLowerCase() === name);
  const value = key === undefined ? undefined : record[key];
  if (Array.isArray(value)) return value[0] ?? null;
  return value ?? null;
}

function base64ToBytes(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function bytesToBase64(bytes: Uint8Array): string {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

/** Compares two strings in time independent of where they first differ. */
function timingSafeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/** base64 HMAC-SHA256 of `content` with a `whsec_…` secret. */
export async function signWebhookContent(secret: string, content: string): Promise<string> {
  const keyBytes = base64ToBytes(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret);
  const key = await crypto.subtle.importKey('raw', keyBytes, { name: 'HMAC', hash: 'SHA-256' }, false, [
    'sign',
  ]);
  const mac = await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(content));
  return bytesToBase64(new Uint8Array(mac));
}

/**
 * Verifies a webhook delivery and returns its parsed event. `body` must be the raw request body exactly as
 * received (a re-serialised JSON object will not verify). Throws WebhookVerificationError on a missing header,
 * a bad signature, a timestamp outside the tolerance, or a body that is not an Arrakis event.
 */
export async function verifyWebhook(
  secret: string,
  headers: WebhookHeadersInput,
  body: string | Uint8Array,
  options: VerifyWebhookOptions = {},
): Promise<WebhookEvent> {
  const id = header(headers, 'webhook-id');
  const timestamp = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (id === null || timestamp === null || signatures === null) {
    throw new WebhookVerificationError(
      'missing_headers',
      'webhook-id, webhook-timestamp and webhook-signature are required.',
    );
  }
  const seconds = /^\d{1,12}$/.test(timestamp) ? Number(timestamp) : NaN;
  const now = options.now ?? Date.now();
  const tolerance = options.toleranceSeconds ?? 300;
  if (Number.isNaN(seconds) || Math.abs(now / 1000 - seconds) > tolerance) {
    throw new WebhookVerificationError(
      'stale_timestamp',
      `The webhook timestamp is not within ${tolerance} s of now.`,
    );
  }
  const text = typeof body === 'string' ? body : new TextDecoder().decode(body);
  const expected = await signWebhookContent(secret, `${id}.${timestamp}.${text}`);
  const matches = signatures
    .split(' ')
    .filter((s) => s.startsWith('v1,'))
    .some((s) => timingSafeEqual(s.slice(3), expected));
  if (!matches) throw new WebhookVerificationError('bad_signature', 'No v1 signature matches the secret.');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new WebhookVerificationError('invalid_body', 'The signed body is not JSON.');
  }
  const parsed = webhookEventSchema.safeParse(json);
  if (!parsed.success)
    throw new WebhookVerificationError('invalid_body', 'The signed body is not an Arrakis event.');
  return parsed.data;
}
