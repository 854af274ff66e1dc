/** What every admin route file shares: its OpenAPI tag and security, error answers and id parameters. */
import { z } from 'zod';
import { problemSchema } from '../../schemas.js';

/** A 204 answer: no body. */
export const noContent = z.null().describe('No content');

/** The OpenAPI tag and security of every admin operation. */
export const adminDoc = { tags: ['admin'], security: [{ admin: [] }] };

/** Error answers every admin operation may give. */
export const adminErrors = { 400: problemSchema, 401: problemSchema, 404: problemSchema };

export const idParams = z.object({ id: z.string().min(1).max(64) });

/** `ms` as an ISO 8601 timestamp, null stays null. */
export function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}
