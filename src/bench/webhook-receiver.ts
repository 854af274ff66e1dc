/**
 * The battery's webhook receiver: an HTTP server that keeps every POST (headers and the raw body, which
 * the signature covers) and answers 204. The server reaches it at its own address when that is allowed
 * (`serve --fetch-allow`), or at --webhook-receiver URL (a tunnel or a public address in front of it).
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';

export interface Delivery {
  headers: IncomingHttpHeaders;
  body: string;
  receivedAt: number;
}

export interface WebhookReceiver {
  /** The URL it listens on (http://host:port/arrakis-bench). */
  localUrl: string;
  deliveries: Delivery[];
  /** Resolves with the first delivery that `match` accepts, or null after `timeoutMs`. */
  waitFor(match: (d: Delivery) => boolean, timeoutMs: number): Promise<Delivery | null>;
  close(): Promise<void>;
}

/** `host:port`, `:port` or `port` → the pair; host defaults to 127.0.0.1. */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:(.*):)?(\d{1,5})$/.exec(text.trim());
  const port = m === null ? NaN : Number(m[2]);
  if (m === null || port > 65535) throw new Error(`--webhook-listen ${text}: give HOST:PORT or PORT`);
  const host = m[1] === undefined || m[1] === '' ? '127.0.0.1' : m[1].replace(/^\[(.*)\]$/, '$1');
  return { host, port };
}

export async function startWebhookReceiver(listen: { host: string; port: number }): Promise<WebhookReceiver> {
  const deliveries: Delivery[] = [];
  const waiters = new Set<() => void>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'POST') {
        deliveries.push({
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          receivedAt: Date.now(),
        });
        for (const wake of waiters) wake();
      }
      res.writeHead(req.method === 'POST' ? 204 : 405).end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : listen.port;
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  return {
    localUrl: `http://${host}:${port}/arrakis-bench`,
    deliveries,
    waitFor(match, timeoutMs) {
      return new Promise((resolve) => {
        const check = (): boolean => {
          const found = deliveries.find(match);
          if (found === undefined) return false;
          clearTimeout(timer);
          waiters.delete(wake);
          resolve(found);
          return true;
        };
        const wake = (): void => void check();
        const timer = setTimeout(() => {
          waiters.delete(wake);
          resolve(null);
        }, timeoutMs);
        waiters.add(wake);
        check();
      });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
