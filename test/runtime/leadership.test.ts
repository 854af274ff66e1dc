/** The fleet lock: one holder among replicas on Postgres, taken over when the holder goes away. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lead } from '../../src/runtime/leadership.js';
import { createTestDatabase } from '../support/pg.js';

let db: { url: string; drop(): Promise<void> };
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

const within = (p: Promise<void>, ms: number): Promise<boolean> =>
  Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);

describe('leadership', () => {
  it('only one replica leads; another takes over when it stops', async () => {
    const a = lead(db.url, 'arrakis-fleet', 50);
    expect(await within(a.acquired, 5000)).toBe(true);
    const b = lead(db.url, 'arrakis-fleet', 50);
    expect(await within(b.acquired, 500)).toBe(false);
    const other = lead(db.url, 'another-duty', 50);
    expect(await within(other.acquired, 5000)).toBe(true);
    expect(a.held()).toBe(true);
    expect(b.held()).toBe(false);
    await a.close();
    expect(await within(b.acquired, 5000)).toBe(true);
    expect(b.held()).toBe(true);
    const waiting = lead(db.url, 'arrakis-fleet', 50);
    expect(await within(waiting.acquired, 300)).toBe(false);
    // A replica that never led closes at once, and its wait ends (a shutdown must not hang on it).
    await waiting.close();
    await expect(waiting.acquired).rejects.toThrow(/closed/);
    await b.close();
    await other.close();
  });

  it('on SQLite the single process always leads', async () => {
    const l = lead('sqlite:./x.db', 'arrakis-fleet');
    expect(await within(l.acquired, 100)).toBe(true);
    await l.close();
  });
});
