import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createTestDatabase } from '../support/pg.js';
import { openStore } from '../../src/store/open.js';
import { WebhookDeliverer } from '../../src/webhooks/deliverer.js';
import { AttemptLog } from './attempt-log.js';
import { parseRetrySchedule } from '../../src/webhooks/retry-schedule.js';
import { openHarness, type Harness } from './harness.js';
import { completeJobWithWebhook, createAccount } from './jobs.js';
import { startReceiver, type Receiver } from './receiver.js';

const attemptLine = z.object({
  deliveryId: z.string(),
  attempt: z.object({ attempt: z.number(), statusCode: z.number().nullable() }),
  status: z.string(),
});

/** Starts the deliverer fixture in a child process; resolves with its first recorded attempt. */
async function firstAttemptInChild(
  env: Record<string, string>,
): Promise<{ child: ChildProcess; line: z.infer<typeof attemptLine> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/webhooks/fixtures/run-deliverer.ts'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  if (child.stdout === null) throw new Error('no stdout pipe');
  const lines = createInterface({ input: child.stdout });
  for await (const text of lines) {
    if (text === 'ready') continue;
    return { child, line: attemptLine.parse(JSON.parse(text)) };
  }
  throw new Error('the deliverer process exited before its first attempt');
}

const children: ChildProcess[] = [];
let harness: Harness | null = null;
let receiver: Receiver | null = null;
let dropDb: (() => Promise<void>) | null = null;

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await harness?.close();
  await receiver?.close();
  await dropDb?.();
  harness = null;
  receiver = null;
  dropDb = null;
});

const dialects: Array<[string, () => Promise<string | undefined>]> = [
  ['sqlite', async () => undefined],
  [
    'postgres',
    async () => {
      const db = await createTestDatabase();
      dropDb = db.drop;
      return db.url;
    },
  ],
];

describe.each(dialects)('webhook delivery survives a killed server (%s)', (_name, databaseUrl) => {
  it('the process dies after a failed attempt; a new one delivers exactly once with the same webhook-id', async () => {
    let up = false;
    receiver = await startReceiver(() => (up ? 200 : 500));
    harness = await openHarness(await databaseUrl());
    const dbUrl = harness.url;
    const account = await createAccount(harness.store);
    const jobId = await completeJobWithWebhook(harness.store, account, receiver.url);
    const delivery = await harness.deliveryFor(jobId);
    const allow = `127.0.0.1:${receiver.port}`;

    const { child, line } = await firstAttemptInChild({
      DB_URL: dbUrl,
      ALLOW: allow,
      SCHEDULE: '500ms,50ms,50ms',
      LEASE_MS: '2000',
    });
    child.kill('SIGKILL');
    await once(child, 'exit');
    expect(line).toMatchObject({
      deliveryId: delivery.id,
      status: 'pending',
      attempt: { attempt: 1, statusCode: 500 },
    });

    up = true;
    const { log } = harness.deliverer({ allow: [allow], schedule: parseRetrySchedule('500ms,50ms,50ms') });
    expect((await log.finished(delivery.id)).status).toBe('delivered');

    const ids = receiver.requests.map((r) => r.headers['webhook-id']);
    expect(new Set(ids)).toEqual(new Set([delivery.id]));
    const attempts = await harness.store.listWebhookAttempts(delivery.id);
    expect(attempts.filter((a) => a.statusCode === 200)).toHaveLength(1);
    expect(attempts.at(-1)?.statusCode).toBe(200);
    expect(attempts.map((a) => a.attempt)).toEqual(attempts.map((_, i) => i + 1));
    expect(attempts).toHaveLength(receiver.requests.length);
    expect((await harness.deliveryFor(jobId)).status).toBe('delivered');
  });
});

// Replicas share Postgres; embedded SQLite is one process by design (ARCHITECTURE.md "Scale").
describe('webhook delivery across replicas (postgres)', () => {
  it('two replicas drain one queue and each delivery is sent exactly once', async () => {
    // The first 8 requests are held until all 8 are in flight: more than one replica (4 slots each) can hold.
    const held: ServerResponse[] = [];
    receiver = await startReceiver((_req, n, res) => {
      if (n >= 8) return 204;
      held.push(res);
      if (held.length === 8) for (const r of held) r.writeHead(204).end();
      return null;
    });
    const db = await createTestDatabase();
    dropDb = db.drop;
    harness = await openHarness(db.url);
    const account = await createAccount(harness.store);
    const jobIds: string[] = [];
    for (let i = 0; i < 20; i++)
      jobIds.push(await completeJobWithWebhook(harness.store, account, receiver.url));
    const allow = [`127.0.0.1:${receiver.port}`];

    // A second store on the same database stands in for another `arrakis serve` process.
    const other = await openStore(harness.url);
    const log = new AttemptLog();
    const replica = new WebhookDeliverer({
      store: other,
      getAccount: (id) => other.getAccount(id),
      allow,
      schedule: parseRetrySchedule('50ms'),
      pollMs: 10,
      concurrency: 4,
      onAttempt: log.push,
    });
    replica.start();
    try {
      const { log: mine } = harness.deliverer({ allow, pollMs: 10, concurrency: 4 });
      await receiver.waitForRequests(20);
      const ids = receiver.requests.map((r) => r.headers['webhook-id']);
      expect(new Set(ids).size).toBe(20);
      const deliveries = await harness.store.listWebhookDeliveries({ accountId: account.id, limit: 100 });
      await Promise.all(deliveries.map((d) => Promise.race([mine.finished(d.id), log.finished(d.id)])));
      expect(mine.events.length + log.events.length).toBe(20);
      expect(log.events.length).toBeGreaterThan(0);
      expect(mine.events.length).toBeGreaterThan(0);
    } finally {
      await replica.stop();
      await other.close();
    }
    expect(receiver.requests).toHaveLength(20);
  });
});
