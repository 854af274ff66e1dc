/** Per-account webhook signing secrets in the Standard Webhooks format. */
import { randomBytes } from 'node:crypto';

/** Standard Webhooks recommends 24 to 64 random bytes; 32 matches HMAC-SHA256's block-safe key length. */
const SECRET_BYTES = 32;

/** A fresh signing secret: `whsec_` followed by the base64 of 32 random bytes. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(SECRET_BYTES).toString('base64')}`;
}
