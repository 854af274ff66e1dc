/**
 * A scripted ComfyUI stand-in for protocol corners comfy-lite does not show (a server that ignores the caller's
 * prompt_id, a partial 200 acceptance, progress without prompt_id, a silent socket). The test drives it: it
 * answers POST /prompt with what the test says, serves /history and /queue from state the test sets, records
 * every request, and lets the test send WebSocket frames.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';

export interface StandIn {
  url: string;
  /** Method, path and JSON body of every HTTP request, in order. */
  requests: { method: string; path: string; body: unknown }[];
  /** What POST /prompt answers (status and body), computed from the request body. */
  answerPrompt: (body: unknown) => { status: number; body: unknown };
  history: Record<string, unknown>;
  /** GET /object_info answer. */
  objectInfo: unknown;
  /** When true, HTTP requests are read but never answered (a hung server). */
  hang: boolean;
  queue: { queue_running: unknown[][]; queue_pending: unknown[][] };
  /** Sends a text frame (an object) or binary frame (a Buffer) to every connected socket. */
  send(frame: object | Buffer): void;
  /** Resolves once a socket is connected. */
  connected(): Promise<void>;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  const text = Buffer.concat(chunks).toString('utf8');
  if (text === '') return null;
  try {
    const parsed: unknown = JSON.parse(text);
    return parsed;
  } catch {
    return text;
  }
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(body === undefined ? '' : JSON.stringify(body));
}

/** Starts the stand-in on a free 127.0.0.1 port. */
export async function startStandIn(): Promise<StandIn> {
  const sockets = new Set<WebSocket>();
  const state: Omit<StandIn, 'url' | 'send' | 'connected' | 'close'> = {
    requests: [],
    answerPrompt: () => ({ status: 500, body: { error: 'no script' } }),
    history: {},
    objectInfo: {},
    hang: false,
    queue: { queue_running: [], queue_pending: [] },
  };
  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const body = await readBody(req);
      state.requests.push({ method: req.method ?? 'GET', path: url.pathname, body });
      if (state.hang) return;
      if (url.pathname === '/object_info') return reply(res, 200, state.objectInfo);
      if (url.pathname === '/prompt' && req.method === 'POST') {
        const answer = state.answerPrompt(body);
        return reply(res, answer.status, answer.body);
      }
      if (url.pathname.startsWith('/history/')) {
        const id = decodeURIComponent(url.pathname.slice('/history/'.length));
        return reply(res, 200, id in state.history ? { [id]: state.history[id] } : {});
      }
      if (url.pathname === '/queue' && req.method === 'GET') return reply(res, 200, state.queue);
      if (url.pathname === '/queue' || url.pathname === '/interrupt') return reply(res, 200, undefined);
      return reply(res, 404, { error: 'not found' });
    })();
  });
  const wss = new WebSocketServer({ server, path: '/ws' });
  wss.on('connection', (ws) => {
    sockets.add(ws);
    ws.on('close', () => sockets.delete(ws));
    ws.send(
      JSON.stringify({ type: 'status', data: { status: { exec_info: { queue_remaining: 0 } }, sid: 'x' } }),
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}`,
    send(frame: object | Buffer) {
      for (const ws of sockets) ws.send(Buffer.isBuffer(frame) ? frame : JSON.stringify(frame));
    },
    async connected() {
      if (sockets.size === 0) await once(wss, 'connection');
    },
    async close() {
      for (const ws of sockets) ws.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}
