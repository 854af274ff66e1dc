/** Small HTTP helpers answering the way ComfyUI's aiohttp server does (JSON, empty 200s, plain-text 404s). */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Thrown by a handler to answer with a bare status (aiohttp's `web.Response(status=...)`). */
export class HttpStatus extends Error {
  constructor(readonly status: number) {
    super(`HTTP ${status}`);
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
  });
  res.end(text);
}

/** A bare status with no body (`web.Response(status=...)`); 4xx/5xx carry aiohttp's text for unknown routes. */
export function sendEmpty(res: ServerResponse, status: number): void {
  res.writeHead(status, { 'Content-Length': 0 });
  res.end();
}

export function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
  });
  res.end(text);
}

export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buf.length;
    if (size > limit) throw new HttpStatus(413);
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

/** `await request.json()`: a body that is not JSON fails the request (aiohttp answers 500). */
export async function readJson(req: IncomingMessage): Promise<unknown> {
  const body = await readBody(req, 100 * 1024 * 1024);
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new HttpStatus(500);
  }
}
