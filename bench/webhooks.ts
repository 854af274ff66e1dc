/**
 * Webhook deliveries per second to a local receiver: N jobs end with a webhook on a SQLite store, then one
 * deliverer drains the queue (signing, SSRF-guarded POST, attempt recorded). Prints the figures.
 * Usage: node --import tsx bench/webhooks.ts [deliveries=2000] [concurrency=16]
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_LIMITS } from '../src/jobs/types.js';
import type { Store } from '../src/store/contract.js';
import { openStore } from '../src/store/open.js';
import { WebhookDeliverer } from '../src/webhooks/deliverer.js';
import { parseRetrySchedule } from '../src/webhooks/retry-schedule.js';
import { newWebhookSecret } from '../src/webhooks/secrets.js';

async function enqueue(store: Store, count: number, url: string): Promise<void> {
  const now = Date.now();
  const account = await store.createAccount(
    {
      name: 'bench',
      limits: { ...DEFAULT_LIMITS, max_active_jobs: 1_000_000, max_active_jobs_per_user: 1_000_000 },
      jwt: null,
      nodeAllowlist: null,
      allowedPools: null,
      webhookSecret: newWebhookSecret(),
    },
    now,
  );
  for (let i = 0; i < count; i++) {
    const admitted = await store.admitJob(
      {
        accountId: account.id,
        userId: `user-${i % 50}`,
        priority: 0,
        pool: 'default',
        workflow: { '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8 } } },
        templateName: null,
        inputs: [],
        inputsReady: true,
        webhookUrl: url,
        metadata: { i },
        idempotencyKey: null,
        requestHash: null,
      },
      now,
    );
    if (admitted.kind !== 'admitted') throw new Error(`admission failed: ${admitted.kind}`);
    const job = await store.claimNext('bench-worker', 'default', 60_000, now);
    if (job === null) throw new Error('nothing to claim');
    await store.completeJob(job.id, 'bench-worker', [], now);
  }
}

async function main(): Promise<void> {
  const total = Number(process.argv[2] ?? 2000);
  const concurrency = Number(process.argv[3] ?? 16);
  const dir = mkdtempSync(join(tmpdir(), 'arrakis-bench-webhooks-'));
  const receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(204).end());
  });
  receiver.listen(0, '127.0.0.1');
  await once(receiver, 'listening');
  const port = (receiver.address() as AddressInfo).port;
  const store = await openStore(`sqlite:${join(dir, 'bench.db')}`);
  await store.migrate();
  try {
    await enqueue(store, total, `http://127.0.0.1:${port}/hook`);
    let delivered = 0;
    let failed = 0;
    let resolveDone: () => void = () => {};
    const done = new Promise<void>((resolve) => (resolveDone = resolve));
    const deliverer = new WebhookDeliverer({
      store,
      getAccount: (id) => store.getAccount(id),
      allow: [`127.0.0.1:${port}`],
      schedule: parseRetrySchedule('1s'),
      concurrency,
      pollMs: 50,
      onAttempt: ({ status }) => {
        if (status === 'delivered') delivered++;
        else failed++;
        if (delivered + failed >= total) resolveDone();
      },
    });
    const started = performance.now();
    deliverer.start();
    await done;
    const seconds = (performance.now() - started) / 1000;
    await deliverer.stop();
    console.log(
      `webhook deliveries: ${delivered} delivered, ${failed} other, concurrency ${concurrency}, SQLite`,
    );
    console.log(
      `webhook deliveries/s: ${(total / seconds).toFixed(0)} (${seconds.toFixed(2)} s for ${total})`,
    );
  } finally {
    await store.close();
    receiver.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
