/**
 * arrakis/client in 30 lines: submit a workflow, stream its progress, save the output, verify the webhook.
 *   ARRAKIS_URL=http://127.0.0.1:8080 ARRAKIS_KEY=ark_… WEBHOOK_SECRET=whsec_… npx tsx examples/client.ts
 * The server must let webhooks reach this receiver: `arrakis serve --fetch-allow 127.0.0.1:8090`.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { ArrakisClient, verifyWebhook, type WebhookEvent } from 'arrakis/client';

const env = (name: string, fallback = ''): string => process.env[name] ?? fallback;
const port = Number(env('WEBHOOK_PORT', '8090'));
const out = env('OUT', 'output.png');

// The webhook receiver trusts a delivery only once its signature and timestamp verify.
const webhook = new Promise<WebhookEvent>((resolve, reject) => {
  const server = createServer(async (req, res) => {
    const chunks: Uint8Array[] = [];
    for await (const chunk of req) chunks.push(chunk as Uint8Array);
    verifyWebhook(env('WEBHOOK_SECRET'), req.headers, Buffer.concat(chunks)).then(resolve, reject);
    res.writeHead(204, { connection: 'close' }).end(() => server.close());
  }).listen(port, '127.0.0.1');
});

const client = new ArrakisClient({
  baseUrl: env('ARRAKIS_URL', 'http://127.0.0.1:8080'),
  apiKey: env('ARRAKIS_KEY'),
  userId: env('ARRAKIS_USER', 'demo'),
});
const request = JSON.parse(
  await readFile(env('WORKFLOW', new URL('invert.json', import.meta.url).pathname), 'utf8'),
);
const job = await client.jobs.create(request, { webhook: `http://127.0.0.1:${port}/hook` });
console.log(`submitted ${job.id}`);
for await (const e of client.jobs.stream(job.id)) {
  if (e.event === 'progress') console.log(`progress ${e.data.value}/${e.data.max}`);
  if (e.event === 'done') console.log(`done: ${e.data.status}`);
}
await writeFile(out, await client.outputs.download(job.id, 0));
const event = await webhook;
console.log(`saved ${out}; webhook ${event.type} verified for ${event.data.job.id}`);
