/**
 * A transparent proxy in front of a real comfy-lite for client tests: it forwards HTTP and `/ws` both ways,
 * records every HTTP request the client makes, and lets a test bend the timing the way a network or a busy
 * server can: hold a `POST /prompt` answer until chosen frames have gone through, drop the client's socket
 * instead of forwarding a chosen frame (the frames sent until the client reconnects are lost), or stall chosen
 * requests (never read, never answered: a hung or very slow server).
 */
import { once } from 'node:events';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';

export type ProxiedFrame = { type: string; data: Record<string, unknown> };

export interface ComfyProxy {
  url: string;
  /** Method and path (no query) of every HTTP request, in order. */
  requests: { method: string; path: string }[];
  /** Every text frame forwarded to the client, in order. */
  forwarded: ProxiedFrame[];
  /** Holds the answer of `POST /prompt` for the prompt id it names until this resolves (null: no hold). */
  holdPromptAnswer: ((promptId: string) => Promise<void>) | null;
  /** Asked for each text frame from comfy-lite: true closes the client's socket instead of forwarding it. */
  dropSocketAt: (frame: ProxiedFrame) => boolean;
  /** Asked for each HTTP request: true stalls it (its body is never read, no answer is ever sent). */
  stall: (method: string, path: string) => boolean;
  /** The paths of stalled requests whose connection the client has closed, in order. */
  stalledClosed: string[];
  /** Resolves once a forwarded frame matches. */
  whenForwarded(match: (frame: ProxiedFrame) => boolean): Promise<void>;
  close(): Promise<void>;
}

async function readAll(stream: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks);
}

/** Starts a proxy on a free 127.0.0.1 port in front of `upstream` (http://host:port). */
export async function startComfyProxy(upstream: string): Promise<ComfyProxy> {
  const target = new URL(upstream);
  const waiters = new Set<{ match: (f: ProxiedFrame) => boolean; resolve: () => void }>();
  const proxy: ComfyProxy = {
    url: '',
    requests: [],
    forwarded: [],
    holdPromptAnswer: null,
    dropSocketAt: () => false,
    stall: () => false,
    stalledClosed: [],
    whenForwarded(match) {
      if (proxy.forwarded.some(match)) return Promise.resolve();
      return new Promise((resolve) => waiters.add({ match, resolve }));
    },
    async close() {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const forwardHttp = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    proxy.requests.push({ method: req.method ?? 'GET', path });
    if (proxy.stall(req.method ?? 'GET', path)) {
      req.pause();
      res.on('close', () => proxy.stalledClosed.push(path));
      return;
    }
    const body = await readAll(req);
    const answer = await new Promise<IncomingMessage>((resolve, reject) => {
      const out = request(
        {
          host: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: target.host },
        },
        resolve,
      );
      out.on('error', reject);
      out.end(body);
    });
    const answerBody = await readAll(answer);
    const hold = proxy.holdPromptAnswer;
    if (hold !== null && req.method === 'POST' && path === '/prompt' && answer.statusCode === 200) {
      const promptId = (JSON.parse(answerBody.toString('utf8')) as { prompt_id: string }).prompt_id;
      await hold(promptId);
    }
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    res.end(answerBody);
  };

  const server = createServer((req, res) => {
    forwardHttp(req, res).catch(() => res.destroy());
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (client) => {
      const upstreamWs = new WebSocket(`ws://${target.host}${req.url ?? '/ws'}`);
      const early: Array<{ data: WebSocket.RawData; isBinary: boolean }> = [];
      client.on('message', (data, isBinary) => {
        if (upstreamWs.readyState === WebSocket.OPEN) upstreamWs.send(data, { binary: isBinary });
        else early.push({ data, isBinary });
      });
      upstreamWs.on('open', () => {
        for (const m of early.splice(0)) upstreamWs.send(m.data, { binary: m.isBinary });
      });
      upstreamWs.on('message', (data, isBinary) => {
        if (client.readyState !== WebSocket.OPEN) return;
        if (isBinary) return void client.send(data, { binary: true });
        const text = String(data);
        const frame = JSON.parse(text) as ProxiedFrame;
        if (proxy.dropSocketAt(frame)) {
          client.terminate();
          upstreamWs.terminate();
          return;
        }
        client.send(text, () => {
          proxy.forwarded.push(frame);
          for (const w of [...waiters]) {
            if (w.match(frame)) {
              waiters.delete(w);
              w.resolve();
            }
          }
        });
      });
      const closeBoth = (): void => {
        client.terminate();
        upstreamWs.terminate();
      };
      client.on('close', closeBoth);
      upstreamWs.on('close', closeBoth);
      client.on('error', closeBoth);
      upstreamWs.on('error', closeBoth);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  proxy.url = `http://127.0.0.1:${port}`;
  return proxy;
}
