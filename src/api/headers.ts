/**
 * Request headers of the job routes, as zod schemas so /openapi.json documents them as header parameters.
 * Loose objects: every other header passes through untouched. Auth runs before validation, so a bad
 * X-User-ID still answers 400 invalid_user_id from the authenticator.
 */
import { z } from 'zod';

const userId = z
  .string()
  .regex(/^[A-Za-z0-9._:@-]{1,128}$/)
  .optional()
  .describe(
    'The end user the account key acts for (required with an API key; a JWT names its user in `sub`)',
  );

export const jobHeaders = z.looseObject({ 'x-user-id': userId });

export const submitHeaders = z.looseObject({
  'x-user-id': userId,
  'idempotency-key': z
    .string()
    .optional()
    .describe('1–255 visible ASCII characters; the same key and body within 24 h returns the original job'),
  prefer: z
    .string()
    .optional()
    .describe(
      'RFC 7240 `wait=N` (N ≤ 60): answer 200 with the finished job if it ends within N seconds, else 202; ' +
        "with `outputs=inline` too (`wait=30, outputs=inline`), that 200 carries the outputs' bytes (`data`)",
    ),
});

export const eventHeaders = z.looseObject({
  'x-user-id': userId,
  'last-event-id': z
    .string()
    .optional()
    .describe('Resume after this event id (sent by EventSource on reconnect)'),
});
