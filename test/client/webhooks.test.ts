/** `verifyWebhook` (WebCrypto) against what the server's deliverer signs. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArrakisClient, verifyWebhook, WebhookVerificationError } from 'arrakis/client';
import { signWebhook } from '../../src/webhooks/sign.js';
import { newWebhookSecret } from '../../src/webhooks/secrets.js';
import { createTenant, invertWorkflow, startTestServer, type TestServer } from '../support/server.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';

let receiver: WebhookReceiver;
let hookUrl = '';
let received: WebhookReceiver['received'] = [];
let server: TestServer;

beforeAll(async () => {
  receiver = await startWebhookReceiver();
  received = receiver.received;
  const port = receiver.port;
  hookUrl = `http://127.0.0.1:${port}/hooks`;
  server = await startTestServer({ settings: { comfyLite: 1, fetchAllow: [`127.0.0.1:${port}`] } });
});
afterAll(async () => {
  await server.close();
  await receiver.close();
});

async function reason(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WebhookVerificationError);
  return (err as WebhookVerificationError).reason;
}

const event = (id: string): string =>
  JSON.stringify({
    type: 'job.completed',
    timestamp: new Date().toISOString(),
    data: {
      job: {
        id,
        status: 'completed',
        user_id: 'u',
        created_at: new Date().toISOString(),
        started_at: null,
        finished_at: null,
        queue_wait_s: null,
        run_time_s: null,
        total_time_s: null,
        cancel_requested: false,
        priority: 0,
        template: null,
        progress: null,
        outputs: [],
        error: null,
        metadata: {},
      },
    },
  });

describe('verifyWebhook', () => {
  it('verifies a delivery the server signed and returns the typed event', async () => {
    const t = await createTenant(server);
    const c = new ArrakisClient({ baseUrl: server.url, apiKey: t.key, userId: 'alice' });
    const job = await c.jobs.create({ workflow: invertWorkflow() }, { webhook: hookUrl });
    const deadline = Date.now() + 15_000;
    let delivery = received.find((d) => d.body.includes(job.id));
    while (delivery === undefined && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 25));
      delivery = received.find((d) => d.body.includes(job.id));
    }
    if (delivery === undefined) throw new Error('no delivery');
    const verified = await verifyWebhook(t.webhookSecret, delivery.headers, delivery.body);
    expect(verified.type).toBe('job.completed');
    expect(verified.data.job.id).toBe(job.id);
    expect(verified.data.job.outputs).toHaveLength(1);
    // Headers as a fetch Headers object and the body as bytes work the same.
    const h = new Headers();
    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature'])
      h.set(name, String(delivery.headers[name]));
    expect(
      (await verifyWebhook(t.webhookSecret, h, new TextEncoder().encode(delivery.body))).data.job.id,
    ).toBe(job.id);

    expect(
      await reason(
        verifyWebhook(t.webhookSecret, delivery.headers, delivery.body.replace('completed', 'failed')),
      ),
    ).toBe('bad_signature');
    expect(await reason(verifyWebhook(newWebhookSecret(), delivery.headers, delivery.body))).toBe(
      'bad_signature',
    );
    const later = Date.now() + 10 * 60_000;
    expect(
      await reason(verifyWebhook(t.webhookSecret, delivery.headers, delivery.body, { now: later })),
    ).toBe('stale_timestamp');
    expect(await reason(verifyWebhook(t.webhookSecret, {}, delivery.body))).toBe('missing_headers');
  });

  it('accepts either signature during a secret rotation, and rejects a non-event body', async () => {
    const [oldSecret, newSecret] = [newWebhookSecret(), newWebhookSecret()];
    const body = event('job_1');
    const headers = signWebhook('msg_1', body, [newSecret, oldSecret], Date.now());
    expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
    expect((await verifyWebhook(oldSecret, { ...headers }, body)).data.job.id).toBe('job_1');
    expect((await verifyWebhook(newSecret, { ...headers }, body)).data.job.id).toBe('job_1');
    const junk = '{"hello":1}';
    expect(
      await reason(
        verifyWebhook(newSecret, { ...signWebhook('msg_2', junk, [newSecret], Date.now()) }, junk),
      ),
    ).toBe('invalid_body');
  });
});
