/**
 * comfy-lite: a stand-alone server speaking ComfyUI's protocol (HTTP routes, also under `/api/`, and the `/ws`
 * WebSocket) over a small set of ComfyUI's image nodes. It imports nothing from the rest of Arrakis.
 */
import { EventEmitter } from 'node:events';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { apiRoutes, queueStatus, type Handler, type RouteContext } from './api-routes.js';
import { Executor, type LegacyBehaviour } from './executor.js';
import { uploadImage, viewFile } from './file-routes.js';
import { HttpStatus, sendEmpty, sendText } from './http-util.js';
import { DEFAULT_MODEL_SUBDIRS, ModelFolders } from './models/model-folders.js';
import type { ModelLoad } from './nodes/loader-nodes.js';
import { createNodeRegistry } from './nodes/registry.js';
import { dataDirs } from './paths.js';
import { PromptQueue } from './prompt-queue.js';
import { WsHub } from './ws-hub.js';

export interface ComfyLiteOptions {
  host?: string;
  port?: number;
  dataDir?: string;
  /** Largest image batch a node may create, in pixels (width × height × batch); see pixel-budget.ts. */
  maxPixels?: number;
  /** ComfyUI's `models/` folder (checkpoints/, loras/, vae/, ...); default: `models/` in the data directory. */
  modelsDir?: string;
  /** How long loading one model file takes (ms); default 0. */
  modelLoadMs?: number;
  /** ComfyUI's `--cache-lru N`: keep up to N node results (N > 0); default: the classic cache (last prompt). */
  cacheLru?: number;
  /** Play an older ComfyUI's behaviour (executor.ts LegacyBehaviour); default: today's protocol. */
  legacy?: LegacyBehaviour;
  /**
   * Tests only: also register ArrakisEchoFile, a node whose UI output names whatever file its inputs say. Without
   * it that class does not exist (`POST /prompt` refuses it as ComfyUI refuses any unknown class_type).
   */
  testOnlyNodes?: boolean;
}

export interface ComfyLiteServer {
  /** http://HOST:PORT */
  url: string;
  port: number;
  dataDir: string;
  modelsDir: string;
  /**
   * 'prompt' ({ promptId }) when a prompt is queued, 'interrupt' ({ promptId: the running prompt or null, at:
   * performance.now() }) when an interrupt applies, 'done' ({ promptId, status: 'success'|'error'|'interrupted' })
   * after its history is written and `executing null` sent, 'load' ({ folder, name, ms }) when a loader node
   * reads a model file.
   */
  events: EventEmitter;
  /** Test hook: closes every WebSocket connection abruptly (simulates a dropped socket). */
  dropSockets(): void;
  close(): Promise<void>;
}

const routes: Record<string, Record<string, Handler>> = {
  ...apiRoutes,
  '/view': { GET: viewFile },
  '/upload/image': { POST: uploadImage },
};

/** Finds the handler for a path (the `/api` prefix is optional), with the `*` parameter it matched. */
function route(path: string): { methods: Record<string, Handler>; param: string } | null {
  const p = path.startsWith('/api/') ? path.slice(4) : path;
  const exact = routes[p];
  if (exact !== undefined) return { methods: exact, param: '' };
  const cut = p.lastIndexOf('/');
  const wild = cut > 0 ? routes[`${p.slice(0, cut)}/*`] : undefined;
  return wild === undefined ? null : { methods: wild, param: decodeURIComponent(p.slice(cut + 1)) };
}

async function handle(ctx: RouteContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://comfy-lite');
  const found = route(url.pathname);
  const handler = found?.methods[req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET')];
  if (found === null) return sendText(res, 404, '404: Not Found');
  if (handler === undefined) return sendText(res, 405, '405: Method Not Allowed');
  try {
    await handler(ctx, req, res, url, found.param);
  } catch (err) {
    if (res.headersSent) return void res.destroy();
    if (err instanceof HttpStatus && err.status !== 500) return sendEmpty(res, err.status);
    sendText(res, 500, '500 Internal Server Error\n\nServer got itself in trouble');
  }
}

/** Runs queued prompts one at a time until the queue closes. */
async function work(ctx: RouteContext, hub: WsHub): Promise<void> {
  for (let item = await ctx.queue.take(); item !== null; item = await ctx.queue.take()) {
    const [, promptId, , extraData] = item;
    // A bug in comfy-lite must not stop the queue: record the prompt as failed and go on.
    const result = await ctx.executor.execute(item).catch(() => ({
      entry: {
        outputs: {},
        status: { status_str: 'error' as const, completed: false, messages: [] },
        meta: {},
      },
      status: 'error' as const,
    }));
    ctx.queue.done(result.entry);
    if (typeof extraData.client_id === 'string')
      hub.send('executing', { node: null, prompt_id: promptId }, extraData.client_id);
    if (ctx.freeMemory.pending) {
      ctx.freeMemory.pending = false;
      ctx.executor.reset();
    }
    ctx.events.emit('done', { promptId, status: result.status });
  }
}

async function listen(server: Server, host: string, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port; // a TCP listener always reports an AddressInfo
}

/** Starts comfy-lite; resolves once it accepts connections. */
export async function startComfyLite(options: ComfyLiteOptions = {}): Promise<ComfyLiteServer> {
  const ownDir = options.dataDir === undefined ? await mkdtemp(join(tmpdir(), 'comfy-lite-')) : null;
  const dirs = dataDirs(options.dataDir ?? ownDir!);
  await rm(dirs.temp, { recursive: true, force: true });
  await Promise.all([dirs.input, dirs.output, dirs.temp].map((d) => mkdir(d, { recursive: true })));
  // Like ComfyUI's own models/ folder, the default one comes with its sub-folders; a given one is only read.
  const modelsDir = resolve(options.modelsDir ?? join(dirs.root, 'models'));
  if (options.modelsDir === undefined)
    await Promise.all(DEFAULT_MODEL_SUBDIRS.map((d) => mkdir(join(modelsDir, d), { recursive: true })));
  const models = new ModelFolders(modelsDir);
  await models.refresh();
  const events = new EventEmitter();
  const registry = createNodeRegistry(
    {
      folders: models,
      loadMs: options.modelLoadMs ?? 0,
      onLoad: (load: ModelLoad) => events.emit('load', load),
    },
    options.testOnlyNodes === true,
  );
  let executor: Executor | null = null;
  const hub = new WsHub({
    queueStatus: () => queueStatus(ctx),
    executingNodeFor: (sid) => executor?.executingNodeFor(sid) ?? null,
  });
  const queue = new PromptQueue(() => hub.send('status', { status: queueStatus(ctx) }, null));
  const cacheSize = options.cacheLru !== undefined && options.cacheLru > 0 ? options.cacheLru : null;
  executor = new Executor(registry, dirs, hub, options.maxPixels, cacheSize, options.legacy);
  const ctx: RouteContext = {
    dirs,
    registry,
    queue,
    executor,
    events,
    counter: { next: 0 },
    models,
    freeMemory: { pending: false },
  };
  const server = createServer((req, res) => void handle(ctx, req, res));
  server.on('upgrade', (req, socket, head) => {
    const path = new URL(req.url ?? '/', 'http://comfy-lite').pathname;
    if (path !== '/ws' && path !== '/api/ws') return void socket.destroy();
    hub.wss.handleUpgrade(req, socket, head, (ws) => hub.accept(ws, req));
  });
  const host = options.host ?? '127.0.0.1';
  const port = await listen(server, host, options.port ?? 8188);
  const worker = work(ctx, hub);
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    dataDir: dirs.root,
    modelsDir,
    events,
    dropSockets: () => hub.dropAll(),
    async close() {
      queue.close();
      executor.interrupt();
      await worker;
      await hub.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(ownDir ?? dirs.temp, { recursive: true, force: true });
    },
  };
}
