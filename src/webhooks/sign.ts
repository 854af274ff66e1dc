/**
 * Standard Webhooks signing: `webhook-signature` is `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`.
 * During a secret rotation both the current and the previous secret sign, space-separated, so a receiver
 * holding either secret verifies the message.
 */
import { Webhook } from 'standardwebhooks';
import type { Account } from '../jobs/types.js';

export interface WebhookHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

/** The secrets that sign at `now`: the current one, plus the previous one while its overlap lasts. */
export function signingSecrets(
  account: Pick<Account, 'webhookSecret' | 'webhookSecretPrevious' | 'webhookSecretPreviousUntil'>,
  now: number,
): string[] {
  const secrets = [account.webhookSecret];
  const previous = account.webhookSecretPrevious;
  const until = account.webhookSecretPreviousUntil;
  if (previous !== null && until !== null && until > now && previous !== account.webhookSecret) {
    secrets.push(previous);
  }
  return secrets;
}

/** The three Standard Webhooks headers for one attempt; `now` becomes the signed timestamp. */
export function signWebhook(
  msgId: string,
  body: string,
  secrets: readonly string[],
  now: number,
): WebhookHeaders {
  if (secrets.length === 0) throw new Error('signWebhook needs at least one secret');
  // The timestamp header must be exactly the whole seconds that were signed.
  const at = new Date(Math.floor(now / 1000) * 1000);
  const signatures = secrets.map((secret) => new Webhook(secret).sign(msgId, at, body));
  return {
    'webhook-id': msgId,
    'webhook-timestamp': String(at.getTime() / 1000),
    'webhook-signature': signatures.join(' '),
  };
}
