/**
 * ComfyUI's JSON routes (server.py): prompt, queue, history, interrupt, object_info, system_stats and the small
 * listings. Each handler answers exactly what the real server answers, including its odd corners (an unknown
 * history id is 200 `{}`, interrupt is always an empty 200).
 */
import { randomUUID } from 'node:crypto';
import { extname } from 'node:path';
import type { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { freemem, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import type { Executor } from './executor.js';
import type { ModelFolders } from './models/model-folders.js';
import { HttpStatus, readJson, sendEmpty, sendJson } from './http-util.js';
import { listInputImages } from './nodes/file-nodes.js';
import type { NodeRegistry } from './nodes/registry.js';
import type { DataDirs } from './paths.js';
import type { PromptQueue, QueueItem } from './prompt-queue.js';
import { pyStr } from './py-format.js';
import { isRecord } from './json.js';
import { validatePrompt } from './validate.js';
import { SERVER_FEATURES } from './ws-hub.js';

export interface RouteContext {
  dirs: DataDirs;
  registry: NodeRegistry;
  queue: PromptQueue;
  executor: Executor;
  events: EventEmitter;
  /** ComfyUI's prompt counter (`self.number`). */
  counter: { next: number };
  /** The model folders (`models/`) the loader nodes list and load from. */
  models: ModelFolders;
  /** Set by `POST /free {"free_memory": true}` while a prompt runs: the caches are dropped after it. */
  freeMemory: { pending: boolean };
}

export type Handler = (
  ctx: RouteContext,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  param: string,
) => Promise<void>;

const DeleteOrClear = z
  .object({ clear: z.unknown().optional(), delete: z.array(z.unknown()).optional() })
  .loose();
const InterruptBody = z.object({ prompt_id: z.unknown().optional() }).loose();

export const queueStatus = (ctx: RouteContext): { exec_info: { queue_remaining: number } } => ({
  exec_info: { queue_remaining: ctx.queue.remaining() },
});

/** `float(json_data['number'])`. */
function promptNumber(ctx: RouteContext, body: Record<string, unknown>): number {
  if ('number' in body) {
    const n = typeof body.number === 'string' ? Number(body.number.trim()) : Number(body.number);
    if (!Number.isFinite(n) || body.number === null || body.number === '') throw new HttpStatus(500);
    return n;
  }
  const n = ctx.counter.next++;
  return body.front !== undefined &&
    body.front !== null &&
    body.front !== false &&
    body.front !== 0 &&
    body.front !== ''
    ? -n
    : n;
}

/** ComfyUI lists model folders (through its mtime-checked cache) each time a loader's inputs are read. */
async function prepare(ctx: RouteContext, classes: Iterable<unknown>): Promise<void> {
  const defs = new Set([...classes].map((c) => (typeof c === 'string' ? ctx.registry.get(c) : undefined)));
  await Promise.all([...defs].map((def) => def?.prepare?.()));
}

/** Resolves once the answer has been handed to the OS (or the client went away). */
function answered(res: ServerResponse): Promise<void> {
  if (res.writableFinished || res.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('finish', done);
      res.off('close', done);
      resolve();
    };
    res.on('finish', done);
    res.on('close', done);
  });
}

const postPrompt: Handler = async (ctx, req, res) => {
  const json = await readJson(req);
  const body = isRecord(json) ? json : {};
  const number = promptNumber(ctx, body);
  if (!('prompt' in body)) {
    const error = {
      type: 'no_prompt',
      message: 'No prompt provided',
      details: 'No prompt provided',
      extra_info: {},
    };
    return sendJson(res, 400, { error, node_errors: {} });
  }
  if (!isRecord(body.prompt)) throw new HttpStatus(500);
  const promptId = 'prompt_id' in body ? pyStr(body.prompt_id) : randomUUID();
  await prepare(
    ctx,
    Object.values(body.prompt).map((n) => (isRecord(n) ? n.class_type : undefined)),
  );
  const validation = await validatePrompt(body.prompt, ctx.registry, ctx.dirs);
  const extraData: Record<string, unknown> = isRecord(body.extra_data) ? { ...body.extra_data } : {};
  if ('client_id' in body) extraData.client_id = body.client_id;
  if (!validation.ok)
    return sendJson(res, 400, { error: validation.error, node_errors: validation.nodeErrors });
  const item: QueueItem = [number, promptId, validation.prompt, extraData, validation.outputs];
  sendJson(res, 200, { prompt_id: promptId, number, node_errors: validation.nodeErrors });
  // ComfyUI queues the prompt before answering, but its WebSocket frames leave through the event loop after the
  // answer, so a client never sees a frame about a prompt before the answer. Queueing once the answer is out keeps
  // that promise here: no `status`, `execution_start` or final `executing` can overtake it.
  await answered(res);
  ctx.queue.put(item);
  ctx.events.emit('prompt', { promptId });
};

const postQueue: Handler = async (ctx, req, res) => {
  const body = DeleteOrClear.safeParse(await readJson(req));
  if (!body.success) throw new HttpStatus(500);
  if (body.data.clear !== undefined && body.data.clear !== false && body.data.clear !== null)
    ctx.queue.wipe();
  for (const id of body.data.delete ?? []) ctx.queue.deletePending(pyStr(id));
  sendEmpty(res, 200);
};

const postHistory: Handler = async (ctx, req, res) => {
  const body = DeleteOrClear.safeParse(await readJson(req));
  if (!body.success) throw new HttpStatus(500);
  if (body.data.clear !== undefined && body.data.clear !== false && body.data.clear !== null)
    ctx.queue.clearHistory();
  for (const id of body.data.delete ?? []) ctx.queue.deleteHistory(pyStr(id));
  sendEmpty(res, 200);
};

const intParam = (url: URL, name: string): number | null => {
  const v = url.searchParams.get(name);
  if (v === null) return null;
  if (!/^\s*[+-]?\d+\s*$/.test(v)) throw new HttpStatus(500);
  return Number.parseInt(v, 10);
};

const getHistory: Handler = async (ctx, _req, res, url) => {
  sendJson(res, 200, ctx.queue.historyPage(intParam(url, 'max_items'), intParam(url, 'offset')));
};

const getHistoryItem: Handler = async (ctx, _req, res, _url, id) => {
  const entry = ctx.queue.historyEntry(id);
  sendJson(res, 200, entry === undefined ? {} : { [id]: entry });
};

const postInterrupt: Handler = async (ctx, req, res) => {
  let json: unknown = {};
  try {
    json = await readJson(req);
  } catch {
    json = {};
  }
  const parsed = InterruptBody.safeParse(json);
  const target = parsed.success ? parsed.data.prompt_id : undefined;
  const running = ctx.queue.runningItem()?.[1] ?? null;
  const targeted =
    target !== undefined && target !== null && target !== '' && target !== false && target !== 0;
  if (!targeted || (running !== null && pyStr(target) === running)) {
    ctx.executor.interrupt();
    ctx.events.emit('interrupt', { promptId: running, at: performance.now() });
  }
  sendEmpty(res, 200);
};

async function objectInfo(ctx: RouteContext, only: string | null): Promise<Record<string, unknown>> {
  const files = await listInputImages(ctx.dirs);
  await prepare(ctx, only === null ? ctx.registry.keys() : [only]);
  const out: Record<string, unknown> = {};
  for (const [name, def] of ctx.registry) if (only === null || only === name) out[name] = def.info(files);
  return out;
}

const FreeBody = z
  .object({ unload_models: z.unknown().optional(), free_memory: z.unknown().optional() })
  .loose();

/**
 * `free_memory` drops every cached node result (and so every loaded model) once no prompt runs, as ComfyUI's
 * prompt worker does; `unload_models` only moves models out of VRAM in ComfyUI, which comfy-lite does not have.
 */
const postFree: Handler = async (ctx, req, res) => {
  const body = FreeBody.safeParse(await readJson(req));
  if (!body.success) throw new HttpStatus(500);
  const free = body.data.free_memory;
  if (free !== undefined && free !== null && free !== false && free !== 0 && free !== '') {
    if (ctx.queue.runningItem() === null) ctx.executor.reset();
    else ctx.freeMemory.pending = true;
  }
  sendEmpty(res, 200);
};

const systemStats: Handler = async (_ctx, _req, res) => {
  const [total, free] = [totalmem(), freemem()];
  sendJson(res, 200, {
    system: {
      os: 'posix',
      ram_total: total,
      ram_free: free,
      comfyui_version: '0.3.65',
      required_frontend_version: '1.28.7',
      installed_templates_version: null,
      required_templates_version: '0.1.95',
      python_version: `comfy-lite (node ${process.version})`,
      pytorch_version: 'none (comfy-lite)',
      embedded_python: false,
      argv: process.argv.slice(1),
    },
    devices: [
      {
        name: 'cpu',
        type: 'cpu',
        index: null,
        vram_total: total,
        vram_free: free,
        torch_vram_total: total,
        torch_vram_free: free,
      },
    ],
  });
};

/** Routes by method and path (without the optional `/api` prefix); `*` ends a path with one parameter. */
export const apiRoutes: Record<string, Record<string, Handler>> = {
  '/prompt': { POST: postPrompt, GET: async (ctx, _req, res) => sendJson(res, 200, queueStatus(ctx)) },
  '/queue': {
    GET: async (ctx, _req, res) => {
      const { running, pending } = ctx.queue.current();
      sendJson(res, 200, { queue_running: running, queue_pending: pending });
    },
    POST: postQueue,
  },
  '/history': { GET: getHistory, POST: postHistory },
  '/history/*': { GET: getHistoryItem },
  '/interrupt': { POST: postInterrupt },
  '/object_info': { GET: async (ctx, _req, res) => sendJson(res, 200, await objectInfo(ctx, null)) },
  '/object_info/*': {
    GET: async (ctx, _req, res, _url, name) => sendJson(res, 200, await objectInfo(ctx, name)),
  },
  '/system_stats': { GET: systemStats },
  '/embeddings': {
    GET: async (ctx, _req, res) =>
      sendJson(
        res,
        200,
        (await ctx.models.fileList('embeddings')).map((f) => f.slice(0, f.length - extname(f).length)),
      ),
  },
  '/extensions': { GET: async (_ctx, _req, res) => sendJson(res, 200, []) },
  '/features': { GET: async (_ctx, _req, res) => sendJson(res, 200, SERVER_FEATURES) },
  '/models': { GET: async (ctx, _req, res) => sendJson(res, 200, ctx.models.names()) },
  '/models/*': {
    GET: async (ctx, _req, res, _url, folder) =>
      ctx.models.names().includes(folder)
        ? sendJson(res, 200, await ctx.models.fileList(folder))
        : sendEmpty(res, 404),
  },
  '/free': { POST: postFree },
};
