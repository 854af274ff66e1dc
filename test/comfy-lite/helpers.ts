/** Shared helpers for the comfy-lite tests: a real server on 127.0.0.1, a recording WebSocket client, the captures. */
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { startComfyLite, type ComfyLiteServer } from '../../src/comfy-lite/server.js';

export type Frame = { type: string; data: Record<string, unknown> } | { binary: number; bytes: Buffer };

/** A capture of real ComfyUI answers (copied from shared/comfyui-reference into test/comfy/captures). */
export function capture(name: string): unknown {
  return JSON.parse(readFileSync(new URL(`../comfy/captures/${name}`, import.meta.url), 'utf8'));
}

export async function startServer(): Promise<ComfyLiteServer> {
  return await startComfyLite({ port: 0 });
}

/** A WebSocket client that records every frame and can wait for one. */
export class Client {
  readonly frames: Frame[] = [];
  private readonly waiters: Array<() => void> = [];
  constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      const buf = Buffer.isBuffer(data) ? data : Buffer.from(String(data));
      this.frames.push(isBinary ? { binary: buf.readUInt32BE(0), bytes: buf } : JSON.parse(buf.toString()));
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static async connect(server: ComfyLiteServer, clientId: string, path = '/ws'): Promise<Client> {
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}${path}?clientId=${clientId}`);
    const client = new Client(ws);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    await client.waitFor((f) => 'type' in f && f.type === 'status');
    return client;
  }

  /** Resolves with the first recorded frame matching, waiting up to `ms`. */
  async waitFor(match: (f: Frame) => boolean, ms = 10_000): Promise<Frame> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.frames.find(match);
      if (found !== undefined) return found;
      if (Date.now() > deadline) throw new Error('frame not received in time');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 200);
        this.waiters.push(() => (clearTimeout(t), resolve()));
      });
    }
  }

  /** Waits for `executing` with node null for this prompt (ComfyUI's "done" signal). */
  async waitDone(promptId: string): Promise<void> {
    await this.waitFor(
      (f) => 'type' in f && f.type === 'executing' && f.data.node === null && f.data.prompt_id === promptId,
    );
  }

  types(): Array<string | number> {
    return this.frames.map((f) => ('type' in f ? f.type : f.binary));
  }

  clear(): void {
    this.frames.length = 0;
  }

  close(): void {
    this.ws.close();
  }
}

export async function postJson(
  server: ComfyLiteServer,
  path: string,
  body: unknown,
): Promise<{ status: number; json: unknown; text: string }> {
  const res = await fetch(`${server.url}${path}`, { method: 'POST', body: JSON.stringify(body) });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text === '' ? null : JSON.parse(text);
  } catch {
    json = null;
  }
  return { status: res.status, json, text };
}

export async function getJson(
  server: ComfyLiteServer,
  path: string,
): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${server.url}${path}`);
  const text = await res.text();
  return { status: res.status, json: text === '' ? null : JSON.parse(text) };
}

/** Waits for the server's 'done' event of a prompt. */
export function doneOf(
  server: ComfyLiteServer,
  promptId: string,
): Promise<{ promptId: string; status: string }> {
  return new Promise((resolve) => {
    const on = (e: { promptId: string; status: string }): void => {
      if (e.promptId !== promptId) return;
      server.events.off('done', on);
      resolve(e);
    };
    server.events.on('done', on);
  });
}

/** The structure of a JSON value: key names and value kinds, for comparing against captures. */
export function shape(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(shape);
  if (typeof v === 'object' && v !== null) {
    return Object.fromEntries(
      Object.entries(v)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, x]) => [k, shape(x)]),
    );
  }
  return v === null ? 'null' : typeof v;
}

/** Replaces every `traceback` list by [] (Python tracebacks are elided in the captures). */
export function withoutTracebacks(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutTracebacks);
  if (typeof v === 'object' && v !== null) {
    return Object.fromEntries(
      Object.entries(v).map(([k, x]) => [k, k === 'traceback' ? [] : withoutTracebacks(x)]),
    );
  }
  return v;
}

/** EmptyImage → ArrakisDelay → SaveImage, unique per `tag` so the node cache never answers it. */
export function delayPrompt(tag: number, seconds: number): Record<string, unknown> {
  return {
    '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: tag } },
    '2': { class_type: 'ArrakisDelay', inputs: { image: ['1', 0], seconds } },
    '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: `delay/t${tag}` } },
  };
}
