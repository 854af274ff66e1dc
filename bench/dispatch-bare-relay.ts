/**
 * bench/dispatch-bare-relay — the least a durable control plane in front of ComfyUI can do per job, as its own
 * process, for bench/dispatch's `--bare-relay` side: what such a relay costs on this machine, whoever writes it.
 *
 *   node --import tsx bench/dispatch-bare-relay.ts COMFY_URL DIR KEY   (prints "bare relay listening on URL")
 *
 * The same client-facing path as Arrakis (POST /v1/jobs → SSE `done` carrying output URLs → GET the output
 * bytes) and the same durable steps, each done the cheapest way, with nothing else:
 * - submit: the bearer key checked (sha256, constant-time compare), the job and its first event inserted in one
 *   SQLite transaction (WAL, synchronous=NORMAL, prepared statements), the prompt sent to ComfyUI at once (no
 *   queue, no limits, no scheduling), then the 202 answer;
 * - one WebSocket to ComfyUI; at `executed` the output is fetched from /view and written to a temp file,
 *   fdatasync'd and renamed into place, then its folder and the folder's parent fsync'd (the job's folder is new:
 *   without them a power loss can drop the file's name), all synchronously on the event loop (no thread hop);
 * - at `execution_success` (once the file is durable) the completion and its `done` event in one transaction,
 *   then `done` written to the client's open event stream;
 * - the output served from memory.
 * No rate limits, fairness, leases, retries, progress, cancel, webhooks, validation or logs: the floor under
 * any relay that stores outputs durably before it says `done`, not a design to copy.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, fdatasyncSync, fsyncSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import Fastify from 'fastify';
import { Pool } from 'undici';
import WebSocket from 'ws';
import { z } from 'zod';

const [comfyUrl, dir, key] = z
  .tuple([z.string().url(), z.string().min(1), z.string().min(1)])
  .parse(process.argv.slice(2), { error: () => 'usage: dispatch-bare-relay COMFY_URL DIR KEY' });
const keyHash = createHash('sha256').update(key).digest();

const db = new Database(join(dir, 'bare-relay.db'));
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.exec(`CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, user_id TEXT, status TEXT, workflow TEXT,
    outputs TEXT, created_at INTEGER, finished_at INTEGER);
  CREATE TABLE IF NOT EXISTS events (job_id TEXT, seq INTEGER, type TEXT, data TEXT, PRIMARY KEY (job_id, seq));`);
const insertJob = db.prepare('INSERT INTO jobs VALUES (?, ?, ?, ?, NULL, ?, NULL)');
const insertEvent = db.prepare('INSERT INTO events VALUES (?, ?, ?, ?)');
const completeJob = db.prepare(
  "UPDATE jobs SET status = 'completed', outputs = ?, finished_at = ? WHERE id = ? AND status = 'running'",
);
const admit = db.transaction((id: string, user: string, workflow: string) => {
  insertJob.run(id, user, 'running', workflow, Date.now());
  insertEvent.run(id, 1, 'status', '{"status":"running"}');
});
const complete = db.transaction((id: string, outputs: string, done: string) => {
  completeJob.run(outputs, Date.now(), id);
  insertEvent.run(id, 2, 'done', done);
});

interface Run {
  files: Promise<string[]>[];
  done: string | null;
  stream: ServerResponse | null;
}
const runs = new Map<string, Run>();
const outputs = new Map<string, Buffer>();

const comfy = new Pool(comfyUrl, { connections: 4 });
const clientId = randomBytes(8).toString('hex');
const ws = new WebSocket(`${comfyUrl.replace(/^http/, 'ws')}/ws?clientId=${clientId}`);
const frameSchema = z.object({ type: z.string(), data: z.record(z.string(), z.unknown()) });
const imagesSchema = z.object({
  output: z.object({
    images: z.array(z.object({ filename: z.string(), subfolder: z.string(), type: z.string() })).optional(),
  }),
});

/** fsyncs a folder: the names renamed or made in it are durable. */
function syncFolder(folder: string): void {
  const fd = openSync(folder, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

async function store(
  jobId: string,
  image: { filename: string; subfolder: string; type: string },
): Promise<string> {
  const res = await comfy.request({ path: `/view?${new URLSearchParams(image)}`, method: 'GET' });
  const bytes = Buffer.from(await res.body.arrayBuffer());
  const folder = join(dir, 'objects', jobId);
  mkdirSync(folder, { recursive: true });
  const path = join(folder, image.filename);
  const fd = openSync(`${path}.tmp`, 'w');
  writeSync(fd, bytes);
  fdatasyncSync(fd);
  closeSync(fd);
  renameSync(`${path}.tmp`, path);
  syncFolder(folder);
  syncFolder(dirname(folder));
  const url = `/v1/jobs/${jobId}/outputs/${image.filename}`;
  outputs.set(url, bytes);
  return url;
}

ws.on('message', (raw, isBinary) => {
  if (isBinary) return;
  const frame = frameSchema.parse(JSON.parse(String(raw)));
  const promptId = frame.data['prompt_id'];
  const run = typeof promptId === 'string' ? runs.get(promptId) : undefined;
  if (run === undefined || typeof promptId !== 'string') return;
  if (frame.type === 'executed') {
    for (const image of imagesSchema.parse(frame.data).output.images ?? []) {
      run.files.push(store(promptId, image).then((url) => [url]));
    }
  } else if (frame.type === 'execution_success') {
    void Promise.all(run.files).then((urls) => {
      const list = urls.flat().map((url) => ({ url }));
      const done = JSON.stringify({ id: promptId, status: 'completed', outputs: list });
      complete(promptId, JSON.stringify(list), done);
      run.done = done;
      if (run.stream !== null) run.stream.end(`event: done\ndata: ${done}\n\n`);
    });
  }
});
await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));

function authorized(header: string | undefined): boolean {
  const presented = createHash('sha256')
    .update(header?.slice(7) ?? '')
    .digest();
  return timingSafeEqual(presented, keyHash);
}

const app = Fastify();
app.post('/v1/jobs', async (req, reply) => {
  if (!authorized(req.headers.authorization)) return reply.code(401).send({});
  const body = z.object({ workflow: z.record(z.string(), z.unknown()) }).parse(req.body);
  const id = `job_${randomBytes(10).toString('hex')}`;
  admit(id, String(req.headers['x-user-id']), JSON.stringify(body.workflow));
  runs.set(id, { files: [], done: null, stream: null });
  const res = await comfy.request({
    path: '/prompt',
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: body.workflow, client_id: clientId, prompt_id: id }),
  });
  await res.body.dump();
  return reply.code(202).send({ id, status: 'running' });
});
app.get<{ Params: { id: string } }>('/v1/jobs/:id/events', (req, reply) => {
  if (!authorized(req.headers.authorization)) return reply.code(401).send({});
  const run = runs.get(req.params.id);
  if (run === undefined) return reply.code(404).send({});
  reply.hijack();
  reply.raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  if (run.done !== null) reply.raw.end(`event: done\ndata: ${run.done}\n\n`);
  else {
    reply.raw.flushHeaders();
    run.stream = reply.raw;
  }
});
app.get('/v1/jobs/:id/outputs/:name', async (req, reply) => {
  if (!authorized(req.headers.authorization)) return reply.code(401).send({});
  const bytes = outputs.get(req.url);
  if (bytes === undefined) return reply.code(404).send({});
  return reply.type('image/png').send(bytes);
});
const url = await app.listen({ host: '127.0.0.1', port: 0 });
console.log(`bare relay listening on ${url}`);
process.on('SIGTERM', () => {
  void app.close().then(() => {
    ws.close();
    db.close();
    process.exit(0);
  });
});
