/** Webhooks through the whole control plane: a job with a webhook URL ends, a signed delivery arrives. */
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  client,
  createTenant,
  delayWorkflow,
  invertWorkflow,
  isTerminal,
  startTestServer,
  waitForJob,
  type TestServer,
} from '../support/server.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';

let receiver: WebhookReceiver;
let port = 0;
let received: WebhookReceiver['received'] = [];
let server: TestServer;

beforeAll(async () => {
  receiver = await startWebhookReceiver();
  ({ port, received } = receiver);
  server = await startTestServer({ settings: { comfyLite: 1, fetchAllow: [`127.0.0.1:${port}`] } });
});
afterAll(async () => {
  await server.close();
  await receiver.close();
});

async function delivery(jobId: string, timeoutMs = 10_000): Promise<WebhookReceiver['received'][number]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = received.find((d) => d.body.includes(jobId));
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error('no webhook delivery');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('webhooks end to end', () => {
  it('job.completed and job.cancelled arrive signed with the account secret', async () => {
    const t = await createTenant(server);
    const c = client(server, t.key, 'alice');
    const url = `http://127.0.0.1:${port}/hooks`;
    const done = await c.submit({ workflow: invertWorkflow(), webhook: { url } });
    await waitForJob(c, done.body.id, isTerminal);
    const d1 = await delivery(done.body.id);
    const verified = new Webhook(t.webhookSecret).verify(d1.body, {
      'webhook-id': String(d1.headers['webhook-id']),
      'webhook-timestamp': String(d1.headers['webhook-timestamp']),
      'webhook-signature': String(d1.headers['webhook-signature']),
    }) as { type: string; data: { job: { id: string; status: string; outputs: unknown[] } } };
    expect(verified.type).toBe('job.completed');
    expect(verified.data.job).toMatchObject({ id: done.body.id, status: 'completed' });
    expect(verified.data.job.outputs).toHaveLength(1);

    const running = await c.submit({ workflow: delayWorkflow(30), webhook: { url } });
    await waitForJob(c, running.body.id, (j) => j.status === 'running');
    await c.cancel(running.body.id);
    const d2 = await delivery(running.body.id);
    expect(JSON.parse(d2.body).type).toBe('job.cancelled');
    const log = await server.admin('GET', `/v1/admin/webhook-deliveries?job_id=${running.body.id}`);
    expect(log.body.data[0]).toMatchObject({ status: 'delivered', attempts: 1, event_type: 'job.cancelled' });
  });
});
