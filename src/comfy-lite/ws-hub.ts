/**
 * The `/ws` sockets by client id, as ComfyUI's server keeps them: a message goes to one client id, or to every
 * socket when the id is null; reconnecting with the same id replaces the old socket; the first frame is `status`
 * with `sid`; a client may declare feature flags in its first message (preview metadata on binary frames).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';
import { isRecord } from './json.js';

/** Binary event types (server.py BinaryEventTypes). */
const PREVIEW_IMAGE = 1;
const PREVIEW_IMAGE_WITH_METADATA = 4;
const PNG_FORMAT = 2;

/** What ComfyUI announces in `/features` and in its `feature_flags` reply. */
export const SERVER_FEATURES = { supports_preview_metadata: true, max_upload_size: 104857600 };

interface Client {
  ws: WebSocket;
  flags: Record<string, unknown>;
}

export interface HubHooks {
  queueStatus(): unknown;
  /** On reconnect of the running prompt's client: the node it is executing (ComfyUI resends `executing`). */
  executingNodeFor(sid: string): string | null;
}

export class WsHub {
  private readonly clients = new Map<string, Client>();
  readonly wss = new WebSocketServer({ noServer: true });

  constructor(private readonly hooks: HubHooks) {}

  /** Accepts an upgraded `/ws?clientId=` connection. */
  accept(ws: WebSocket, req: IncomingMessage): void {
    const requested = new URL(req.url ?? '/', 'http://x').searchParams.get('clientId');
    const sid = requested !== null && requested !== '' ? requested : randomUUID().replaceAll('-', '');
    const client: Client = { ws, flags: {} };
    this.clients.set(sid, client);
    let first = true;
    ws.on('message', (data, isBinary) => {
      if (!first || isBinary) return;
      first = false;
      let msg: unknown;
      try {
        msg = JSON.parse(data.toString());
      } catch {
        return;
      }
      if (isRecord(msg) && msg.type === 'feature_flags') {
        client.flags = isRecord(msg.data) ? msg.data : {};
        this.send('feature_flags', SERVER_FEATURES, sid);
      }
    });
    ws.on('close', () => {
      if (this.clients.get(sid) === client) this.clients.delete(sid);
    });
    ws.on('error', () => ws.terminate());
    this.send('status', { status: this.hooks.queueStatus(), sid }, sid);
    const node = this.hooks.executingNodeFor(sid);
    if (node !== null) this.send('executing', { node }, sid);
  }

  private targets(sid: string | null): Client[] {
    if (sid === null) return [...this.clients.values()];
    const one = this.clients.get(sid);
    return one === undefined ? [] : [one];
  }

  /** A JSON event to one client, or to all when `sid` is null. */
  send(type: string, data: unknown, sid: string | null): void {
    const text = JSON.stringify({ type, data });
    for (const c of this.targets(sid)) if (c.ws.readyState === WebSocket.OPEN) c.ws.send(text);
  }

  supportsPreviewMetadata(sid: string | null): boolean {
    return sid !== null && this.clients.get(sid)?.flags.supports_preview_metadata === true;
  }

  /** A PNG preview: type 4 with metadata for clients that asked for it, else the legacy type 1 frame. */
  sendPreview(png: Buffer, metadata: Record<string, unknown> | null, sid: string | null): void {
    let frame: Buffer;
    if (metadata !== null) {
      const json = Buffer.from(JSON.stringify(metadata));
      const head = Buffer.alloc(8);
      head.writeUInt32BE(PREVIEW_IMAGE_WITH_METADATA, 0);
      head.writeUInt32BE(json.length, 4);
      frame = Buffer.concat([head, json, png]);
    } else {
      const head = Buffer.alloc(8);
      head.writeUInt32BE(PREVIEW_IMAGE, 0);
      head.writeUInt32BE(PNG_FORMAT, 4);
      frame = Buffer.concat([head, png]);
    }
    for (const c of this.targets(sid)) if (c.ws.readyState === WebSocket.OPEN) c.ws.send(frame);
  }

  /** Closes every socket without a close handshake. */
  dropAll(): void {
    for (const ws of this.wss.clients) ws.terminate();
  }

  async close(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}
