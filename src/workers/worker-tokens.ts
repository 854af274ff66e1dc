/**
 * Worker tokens: `wkt_<tokenId>_<secret>`. The store keeps only the sha256 of the secret, compared in
 * constant time, so a database leak does not let anyone act as a worker.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Store, WorkerToken } from '../store/contract.js';
import { newId } from '../util/ids.js';

const TOKEN = /^wkt_([A-Za-z0-9_]{1,64})_([0-9a-f]{64})$/;

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Creates a worker token for `pool`; the returned `token` is shown once and never stored. */
export async function issueWorkerToken(
  store: Store,
  name: string,
  pool: string,
): Promise<{ id: string; token: string }> {
  const id = newId('wt');
  // Hex keeps the secret free of `_`, so the last `_` always separates id from secret.
  const secret = randomBytes(32).toString('hex');
  await store.createWorkerToken({ id, name, pool, hash: sha256Hex(secret) }, Date.now());
  return { id, token: `wkt_${id}_${secret}` };
}

/** The token row when `presented` is a valid, unrevoked worker token; null otherwise. */
export async function verifyWorkerToken(store: Store, presented: string): Promise<WorkerToken | null> {
  const match = TOKEN.exec(presented);
  if (match === null) return null;
  const [, id = '', secret = ''] = match;
  const row = await store.getWorkerToken(id);
  if (row === null || row.revokedAt !== null) return null;
  const expected = Buffer.from(row.hash, 'hex');
  const actual = createHash('sha256').update(secret).digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual) ? row : null;
}
