/** A loopback HTTP server that records every request (webhook deliveries) and answers 204. */
import { createServer, type IncomingHttpHeaders } from 'node:http';

export interface WebhookReceiver {
  port: number;
  /** Every request so far, in arrival order. */
  received: Array<{ headers: IncomingHttpHeaders; body: string }>;
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: WebhookReceiver['received'] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += String(c)));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  return {
    port,
    received,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
