import { Webhook } from 'standardwebhooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freePort } from '../support/postgres-server.js';
import { parseRetrySchedule } from '../../src/webhooks/retry-schedule.js';
import { newWebhookSecret } from '../../src/webhooks/secrets.js';
import { openHarness, type Harness } from './harness.js';
import { completeJobWithWebhook, createAccount } from './jobs.js';
import { startReceiver, type Receiver } from './receiver.js';

let h: Harness;
const receivers: Receiver[] = [];

async function receiver(...args: Parameters<typeof startReceiver>): Promise<Receiver> {
  const r = await startReceiver(...args);
  receivers.push(r);
  return r;
}

beforeEach(async () => {
  h = await openHarness();
});

afterEach(async () => {
  await h.close();
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

describe('WebhookDeliverer: signing', () => {
  it('POSTs job.completed with the job, signed so the standardwebhooks verifier accepts it', async () => {
    const rx = await receiver();
    const account = await createAccount(h.store);
    const jobId = await completeJobWithWebhook(h.store, account, rx.url);
    const delivery = await h.deliveryFor(jobId);
    const { log } = h.deliverer({ allow: [`127.0.0.1:${rx.port}`] });

    expect((await log.finished(delivery.id)).status).toBe('delivered');
    const [req] = await rx.waitForRequests(1);
    expect(req?.method).toBe('POST');
    expect(req?.headers['content-type']).toMatch(/^application\/json/);
    expect(req?.headers['webhook-id']).toBe(delivery.id);
    expect(req?.headers['webhook-timestamp']).toMatch(/^\d+$/);
    const payload = new Webhook(account.webhookSecret).verify(req?.body ?? '', req?.headers ?? {});
    expect(payload).toMatchObject({
      type: 'job.completed',
      timestamp: expect.any(String),
      data: { job: { id: jobId, status: 'completed', metadata: { order: 42 } } },
    });
    expect(() => new Webhook(newWebhookSecret()).verify(req?.body ?? '', req?.headers ?? {})).toThrow();
    expect((await h.deliveryFor(jobId)).status).toBe('delivered');
  });

  it('during a secret rotation sends both signatures; either secret verifies', async () => {
    const rx = await receiver();
    const account = await createAccount(h.store);
    const fresh = newWebhookSecret();
    await h.store.rotateWebhookSecret(account.id, fresh, Date.now() + 3_600_000);
    const jobId = await completeJobWithWebhook(h.store, account, rx.url);
    const delivery = await h.deliveryFor(jobId);
    const { log } = h.deliverer({ allow: [`127.0.0.1:${rx.port}`] });

    await log.finished(delivery.id);
    const [req] = await rx.waitForRequests(1);
    const body = req?.body ?? '';
    const headers = req?.headers ?? {};
    expect(headers['webhook-signature']?.split(' ')).toHaveLength(2);
    expect(new Webhook(account.webhookSecret).verify(body, headers)).toMatchObject({ type: 'job.completed' });
    expect(new Webhook(fresh).verify(body, headers)).toMatchObject({ type: 'job.completed' });
  });
});

describe('WebhookDeliverer: retries', () => {
  it('retries a receiver that is down (refused, then 500) and delivers once, same webhook-id', async () => {
    const port = await freePort();
    const account = await createAccount(h.store);
    const jobId = await completeJobWithWebhook(h.store, account, `http://127.0.0.1:${port}/hook`);
    const delivery = await h.deliveryFor(jobId);
    const { log } = h.deliverer({
      allow: [`127.0.0.1:${port}`],
      schedule: parseRetrySchedule('50ms,50ms,50ms,50ms,50ms'),
    });

    // Nothing listens yet: the first attempt is refused. Then the receiver comes up answering 500 once.
    const refused = await log.until((e) => e.delivery.id === delivery.id);
    expect(refused.attempt).toMatchObject({ attempt: 1, statusCode: null });
    expect(refused.status).toBe('pending');
    const rx = await startReceiver((_req, n) => (n === 0 ? 500 : 200), port);
    receivers.push(rx);

    expect((await log.finished(delivery.id)).status).toBe('delivered');
    const requests = await rx.waitForRequests(2);
    expect(requests.map((r) => r.headers['webhook-id'])).toEqual([delivery.id, delivery.id]);
    const attempts = await h.store.listWebhookAttempts(delivery.id);
    expect(attempts.map((a) => a.attempt)).toEqual(attempts.map((_, i) => i + 1));
    expect(attempts.at(-1)?.statusCode).toBe(200);
    expect(attempts.at(-2)?.statusCode).toBe(500);
    expect(attempts[0]?.error).toMatch(/fetch_failed/);
    expect(attempts.filter((a) => a.statusCode === 200)).toHaveLength(1);
    expect(rx.requests).toHaveLength(2);
  });

  it('gives up after the last scheduled retry and marks the delivery failed', async () => {
    const rx = await receiver(() => 503);
    const account = await createAccount(h.store);
    const jobId = await completeJobWithWebhook(h.store, account, rx.url);
    const delivery = await h.deliveryFor(jobId);
    const { log } = h.deliverer({
      allow: [`127.0.0.1:${rx.port}`],
      schedule: parseRetrySchedule('20ms,20ms'),
    });

    expect((await log.finished(delivery.id)).status).toBe('failed');
    expect(rx.requests).toHaveLength(3);
    expect((await h.deliveryFor(jobId)).status).toBe('failed');
  });

  it('honours Retry-After when it asks for longer than the schedule', async () => {
    const rx = await receiver((_req, n, res) => {
      if (n > 0) return 204;
      res.writeHead(429, { 'retry-after': '120' }).end();
      return null;
    });
    const account = await createAccount(h.store);
    const jobId = await completeJobWithWebhook(h.store, account, rx.url);
    const delivery = await h.deliveryFor(jobId);
    const { log } = h.deliverer({ allow: [`127.0.0.1:${rx.port}`] });

    const first = await log.until((e) => e.delivery.id === delivery.id);
    expect(first.attempt.statusCode).toBe(429);
    const row = await h.deliveryFor(jobId);
    expect(row.nextAttemptAt - first.attempt.at).toBe(120_000);
  });
});

describe('WebhookDeliverer: receivers that must not be trusted', () => {
  it('a 410 disables the endpoint: no retry, pending and later deliveries to that URL are never sent', async () => {
    const rx = await receiver(() => 410);
    const account = await createAccount(h.store);
    const first = await h.deliveryFor(await completeJobWithWebhook(h.store, account, rx.url));
    const second = await h.deliveryFor(await completeJobWithWebhook(h.store, account, rx.url));
    const { log } = h.deliverer({ allow: [`127.0.0.1:${rx.port}`], concurrency: 1 });

    const gone = await log.until((e) => e.status === 'disabled');
    expect(gone.attempt.statusCode).toBe(410);
    expect(await h.store.isWebhookEndpointDisabled(account.id, rx.url)).toBe(true);
    const other = gone.delivery.id === first.id ? second : first;
    expect((await h.deliveryFor(other.jobId)).status).toBe('disabled');

    const laterJob = await completeJobWithWebhook(h.store, account, rx.url);
    const later = await h.store.listWebhookDeliveries({ jobId: laterJob, limit: 10 });
    expect(later.every((d) => d.status === 'disabled')).toBe(true);
    expect(rx.requests).toHaveLength(1);
    expect(await h.store.listWebhookAttempts(gone.delivery.id)).toHaveLength(1);
  });

  it('never connects to a loopback port that is not allowlisted (blocked attempts recorded)', async () => {
    const allowed = await receiver();
    const forbidden = await receiver();
    const account = await createAccount(h.store);
    const jobId = await completeJobWithWebhook(h.store, account, forbidden.url);
    const delivery = await h.deliveryFor(jobId);
    const { log } = h.deliverer({
      allow: [`127.0.0.1:${allowed.port}`],
      schedule: parseRetrySchedule('10ms'),
    });

    expect((await log.finished(delivery.id)).status).toBe('failed');
    const attempts = await h.store.listWebhookAttempts(delivery.id);
    expect(attempts).toHaveLength(2);
    for (const a of attempts) {
      expect(a.statusCode).toBeNull();
      expect(a.error).toMatch(/^url_blocked/);
    }
    expect(forbidden.requests).toHaveLength(0);
  });

  it('does not follow a redirect, even to an allowlisted receiver', async () => {
    const target = await receiver();
    const redirector = await receiver((_req, _n, res) => {
      res.writeHead(307, { location: target.url }).end();
      return null;
    });
    const account = await createAccount(h.store);
    const delivery = await h.deliveryFor(await completeJobWithWebhook(h.store, account, redirector.url));
    const allow = [`127.0.0.1:${redirector.port}`, `127.0.0.1:${target.port}`];
    const { log } = h.deliverer({ allow, schedule: parseRetrySchedule('10ms') });

    expect((await log.finished(delivery.id)).status).toBe('failed');
    expect((await h.store.listWebhookAttempts(delivery.id))[0]?.error).toMatch(/redirect/);
    expect(redirector.requests).toHaveLength(2);
    expect(target.requests).toHaveLength(0);
  });

  it('times out a receiver that never answers while other deliveries keep flowing', async () => {
    const hanging = await receiver(() => null);
    const healthy = await receiver();
    const account = await createAccount(h.store);
    const stuck = await h.deliveryFor(await completeJobWithWebhook(h.store, account, hanging.url));
    const { log } = h.deliverer({
      allow: [`127.0.0.1:${hanging.port}`, `127.0.0.1:${healthy.port}`],
      schedule: parseRetrySchedule('5s'),
      timeoutMs: 400,
      concurrency: 2,
    });
    await hanging.waitForRequests(1);

    const ok = await h.deliveryFor(await completeJobWithWebhook(h.store, account, healthy.url));
    expect((await log.finished(ok.id)).status).toBe('delivered');
    expect(log.events.some((e) => e.delivery.id === stuck.id)).toBe(false);

    const timedOut = await log.until((e) => e.delivery.id === stuck.id);
    expect(timedOut.status).toBe('pending');
    expect(timedOut.attempt.error).toMatch(/^timeout/);
    expect(timedOut.attempt.durationMs).toBeGreaterThanOrEqual(350);
  });

  it('cuts off an endless response body and keeps going', async () => {
    const rx = await receiver((_req, _n, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const chunk = Buffer.alloc(16 * 1024, 'x');
      const pump = (): void => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
      return null;
    });
    const account = await createAccount(h.store);
    const delivery = await h.deliveryFor(await completeJobWithWebhook(h.store, account, rx.url));
    const { log } = h.deliverer({ allow: [`127.0.0.1:${rx.port}`], schedule: parseRetrySchedule('5s') });

    const first = await log.until((e) => e.delivery.id === delivery.id);
    expect(first.attempt.error).toMatch(/^too_large/);
    expect(first.status).toBe('pending');
  });

  it('stop() aborts an attempt stuck on a hanging receiver and resolves promptly', async () => {
    const hanging = await receiver(() => null);
    const account = await createAccount(h.store);
    const delivery = await h.deliveryFor(await completeJobWithWebhook(h.store, account, hanging.url));
    const { deliverer, log } = h.deliverer({ allow: [`127.0.0.1:${hanging.port}`], timeoutMs: 60_000 });
    await hanging.waitForRequests(1);

    const tooSlow = new Promise((_, reject) =>
      setTimeout(() => reject(new Error('stop() hung')), 5000).unref(),
    );
    await Promise.race([deliverer.stop(), tooSlow]);
    const aborted = await log.until((e) => e.delivery.id === delivery.id);
    expect(aborted.attempt.error).toMatch(/^aborted/);
    expect((await h.deliveryFor(aborted.delivery.jobId)).status).toBe('pending');
  });
});

describe('WebhookDeliverer: wake-up', () => {
  it('kick() delivers at once instead of waiting for the next poll', async () => {
    const rx = await receiver();
    const account = await createAccount(h.store);
    let claimed: () => void = () => {};
    const firstClaim = new Promise<void>((resolve) => (claimed = resolve));
    const store = h.store;
    const { deliverer, log } = h.deliverer({
      allow: [`127.0.0.1:${rx.port}`],
      pollMs: 60_000,
      store: {
        claimDueWebhooks: async (...args) => {
          const due = await store.claimDueWebhooks(...args);
          claimed();
          return due;
        },
        recordWebhookAttempt: (...args) => store.recordWebhookAttempt(...args),
        disableWebhookEndpoint: (...args) => store.disableWebhookEndpoint(...args),
        isWebhookEndpointDisabled: (...args) => store.isWebhookEndpointDisabled(...args),
      },
    });
    // After its first (empty) claim the loop sleeps for a minute unless kicked.
    await firstClaim;
    const delivery = await h.deliveryFor(await completeJobWithWebhook(h.store, account, rx.url));
    deliverer.kick();
    expect((await log.finished(delivery.id)).status).toBe('delivered');
  });
});
