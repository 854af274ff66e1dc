/**
 * `Prefer: wait=N, outputs=inline` on POST /v1/jobs: a job that completes in time is answered with its outputs'
 * bytes (`data`, base64), so the client holds them after one request; outputs past the answer's budget, or
 * past the process's, or unreadable, keep only their URL.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArrakisClient } from 'arrakis/client';
import {
  INLINE_ANSWER_MAX_BYTES,
  INLINE_IN_FLIGHT_MAX_BYTES,
  inlineAnswer,
  inlineBytesInFlight,
  inlineOutputData,
  prefersInlineOutputs,
} from '../../src/api/inline-outputs.js';
import type { ObjectStorage } from '../../src/media/storage/contract.js';
import { FileStorage } from '../../src/media/storage/file-storage.js';
import type { JobView } from '../../src/jobs/public-job.js';
import { publicJobJson } from '../../src/jobs/public-job-json.js';
import type { JobOutput } from '../../src/jobs/types.js';
import { client, createTenant, invertWorkflow, startTestServer, type TestServer } from '../support/server.js';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ settings: { comfyLite: 1 } });
});
afterAll(async () => {
  await server.close();
});

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47];

describe('Prefer: outputs=inline', () => {
  it("answers a completed job with its outputs' bytes, the same bytes its URL serves", async () => {
    const t = await createTenant(server);
    const c = client(server, t.key, 'alice');
    const r = await c.submit({ workflow: invertWorkflow() }, { prefer: 'wait=10, outputs=inline' });
    expect(r.status).toBe(200);
    expect(r.headers.get('preference-applied')).toBe('wait=10, outputs=inline');
    expect(r.body.status).toBe('completed');
    const output = r.body.outputs[0];
    const bytes = Buffer.from(String(output.data), 'base64');
    expect([...bytes.subarray(0, 4)]).toEqual(PNG_SIGNATURE);
    expect(bytes.length).toBe(output.size);
    const download = await fetch(output.url, {
      headers: { authorization: `Bearer ${t.key}`, 'x-user-id': 'alice' },
    });
    expect(Buffer.from(await download.arrayBuffer()).equals(bytes)).toBe(true);
    // Sent: the answer holds none of the process's budget any more.
    await expect.poll(() => inlineBytesInFlight()).toBe(0);
    // Only that answer carries the bytes: the job as read later lists the URL alone.
    const read = await c.get(r.body.id);
    expect(read.body.outputs[0].data).toBeUndefined();
  });

  it('without it, or without wait, no output carries bytes', async () => {
    const t = await createTenant(server);
    const c = client(server, t.key, 'bob');
    const waited = await c.submit({ workflow: invertWorkflow(0x202020) }, { prefer: 'wait=10' });
    expect(waited.status).toBe(200);
    expect(waited.headers.get('preference-applied')).toBe('wait=10');
    expect(waited.body.outputs[0].data).toBeUndefined();
    const queued = await c.submit({ workflow: invertWorkflow(0x303030) }, { prefer: 'outputs=inline' });
    expect(queued.status).toBe(202);
    expect(queued.headers.get('preference-applied')).toBeNull();
    expect(queued.body.outputs).toEqual([]);
  });

  it('gives the bytes only to a key that may download them (jobs:read)', async () => {
    const writeOnly = await createTenant(server, {}, ['jobs:write', 'workflows:raw']);
    const c = client(server, writeOnly.key, 'erin');
    const r = await c.submit({ workflow: invertWorkflow(0x404040) }, { prefer: 'wait=10, outputs=inline' });
    expect(r.status).toBe(200);
    expect(r.headers.get('preference-applied')).toBe('wait=10');
    expect(r.body.outputs[0].data).toBeUndefined();
  });

  it('the client asks for it with { wait, inlineOutputs }', async () => {
    const t = await createTenant(server);
    const c = new ArrakisClient({ baseUrl: server.url, apiKey: t.key, userId: 'carol' });
    const job = await c.jobs.create({ workflow: invertWorkflow() }, { wait: 10, inlineOutputs: true });
    const output = job.outputs[0];
    expect(output?.data).toBeDefined();
    const bytes = Buffer.from(output?.data ?? '', 'base64');
    expect(Buffer.from(await c.outputs.download(job.id, 0)).equals(bytes)).toBe(true);
  });

  it('parses the preference among others', () => {
    expect(prefersInlineOutputs(undefined)).toBe(false);
    expect(prefersInlineOutputs('wait=5')).toBe(false);
    expect(prefersInlineOutputs('wait=5, outputs=inline')).toBe(true);
    expect(prefersInlineOutputs('OUTPUTS = "inline"')).toBe(true);
    expect(prefersInlineOutputs(['wait=5', 'outputs=inline; x=1'])).toBe(true);
    expect(prefersInlineOutputs('outputs=urls')).toBe(false);
    expect(prefersInlineOutputs('xoutputs=inline')).toBe(false);
  });
});

describe('inlineOutputData budgets', () => {
  const MiB = 1024 * 1024;
  let dir: string;
  let storage: FileStorage;
  const warnings: string[] = [];
  const log = { warn: (_fields: object, message: string): void => void warnings.push(message) };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'arrakis-inline-'));
    storage = new FileStorage(dir);
    for (const [name, size] of [
      ['a', 5 * MiB],
      ['b', 4 * MiB],
      ['c', 1 * MiB],
      ['full', INLINE_ANSWER_MAX_BYTES],
    ] as const) {
      await storage.put(`jobs/j/outputs/1.0-${name}.bin`, Buffer.alloc(size, name.charCodeAt(0)), 'x/y');
    }
  });
  afterAll(async () => {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function output(index: number, name: string, size: number): JobOutput {
    const objectKey = `jobs/j/outputs/1.0-${name}.bin`;
    return { index, nodeId: '9', filename: `${name}.bin`, contentType: 'x/y', size, objectKey };
  }

  function view(outputs: JobOutput[]): JobView {
    return {
      id: 'j',
      status: 'completed',
      userId: 'u',
      createdAt: 0,
      startedAt: 0,
      finishedAt: 0,
      cancelRequested: false,
      priority: 0,
      templateName: null,
      progress: null,
      outputs,
      error: null,
      metadata: {},
      models: [],
    };
  }

  it('inlines in order what fits the answer, skips what does not or cannot be read', async () => {
    warnings.length = 0;
    const job = view([
      output(0, 'a', 5 * MiB),
      output(1, 'b', 4 * MiB), // 9 MiB with the first: over the answer's 8 MiB
      output(2, 'c', 1 * MiB),
      output(3, 'gone', 10), // never stored
    ]);
    const inlined = await inlineOutputData(storage, job, log);
    inlined.release();
    expect([...inlined.data.keys()]).toEqual([0, 2]);
    expect(inlined.data.get(2)?.equals(Buffer.alloc(MiB, 'c'.charCodeAt(0)))).toBe(true);
    // A missing object is its URL's to answer (404 there): nothing to warn about. A read that fails warns.
    expect(warnings).toEqual([]);
    // Recorded at 2 MiB, stored at 5: more bytes than the job says (a file replaced behind the store's back).
    const unreadable = await inlineOutputData(storage, view([output(0, 'a', 2 * MiB)]), log);
    unreadable.release();
    expect(unreadable.data.size).toBe(0);
    expect(warnings).toEqual(['an output could not be inlined; its URL serves it']);
  });

  it('stops reading when the client leaves, even from a storage that does not answer', async () => {
    const stalled: ObjectStorage = {
      put: (key, body, contentType) => storage.put(key, body, contentType),
      get: () => new Promise(() => undefined), // a bucket that never answers
      deletePrefix: (prefix) => storage.deletePrefix(prefix),
      list: (prefix) => storage.list(prefix),
      deleteKeys: (keys) => storage.deleteKeys(keys),
      presignedGetUrl: async () => null,
      check: async () => undefined,
    };
    const gone = new AbortController();
    setTimeout(() => gone.abort(new Error('client gone')), 50);
    const started = Date.now();
    const inlined = await inlineOutputData(stalled, view([output(0, 'c', MiB)]), log, {
      signal: gone.signal,
    });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(inlined.data.size).toBe(0);
    inlined.release();
    expect(inlineBytesInFlight()).toBe(0);
    // With the client still there, the read's own bound ends it.
    const bounded = Date.now();
    const timedOut = await inlineOutputData(stalled, view([output(0, 'c', MiB)]), log, { readMs: 100 });
    expect(Date.now() - bounded).toBeGreaterThanOrEqual(90);
    expect(Date.now() - bounded).toBeLessThan(2_000);
    expect(timedOut.data.size).toBe(0);
    timedOut.release();
  });

  it('streams a large answer a base64 slice a turn, the same JSON a small one is built as at once', async () => {
    const big = randomBytes(MiB);
    const small = Buffer.from('tiny');
    // Metadata naming `outputs` (after the real key) must not move where the outputs go.
    const job = { ...view([output(0, 'a', MiB), output(1, 'b', 4)]), metadata: { outputs: [] } };
    const data = new Map([
      [0, Buffer.from(big)],
      [1, small],
    ]);
    const answer = inlineAnswer(job, 'http://api', data);
    if (typeof answer === 'string') throw new Error('a 1 MiB answer was built in one turn');
    const chunks: Buffer[] = [];
    let turns = 0;
    const ticking = setInterval(() => (turns += 1), 0);
    for await (const chunk of answer) chunks.push(Buffer.from(chunk as Buffer));
    clearInterval(ticking);
    // Its slices went out turn by turn: other work ran between them.
    expect(chunks.length).toBeGreaterThan(3);
    expect(turns).toBeGreaterThan(0);
    const parsed = JSON.parse(Buffer.concat(chunks).toString());
    const plain = JSON.parse(publicJobJson(job, 'http://api'));
    expect(parsed).toEqual({
      ...plain,
      outputs: [
        { ...plain.outputs[0], data: Buffer.from(big).toString('base64') },
        { ...plain.outputs[1], data: small.toString('base64') },
      ],
    });
    // Few bytes: one text, the same JSON.
    const one = inlineAnswer(job, 'http://api', new Map([[1, small]]));
    expect(typeof one).toBe('string');
    expect(JSON.parse(String(one))).toEqual({
      ...plain,
      outputs: [plain.outputs[0], { ...plain.outputs[1], data: small.toString('base64') }],
    });
  });

  it("holds at most the process's budget across answers, and gives it back once released", async () => {
    const job = view([output(0, 'full', INLINE_ANSWER_MAX_BYTES)]);
    const held = [];
    for (let i = 0; i < INLINE_IN_FLIGHT_MAX_BYTES / INLINE_ANSWER_MAX_BYTES; i++) {
      const inlined = await inlineOutputData(storage, job, log);
      expect(inlined.data.size).toBe(1);
      held.push(inlined);
    }
    const over = await inlineOutputData(storage, job, log);
    expect(over.data.size).toBe(0);
    over.release();
    held.pop()?.release();
    const after = await inlineOutputData(storage, job, log);
    expect(after.data.size).toBe(1);
    after.release();
    for (const h of held) h.release();
    // Releasing twice gives nothing back twice.
    after.release();
    const again = [];
    for (let i = 0; i < INLINE_IN_FLIGHT_MAX_BYTES / INLINE_ANSWER_MAX_BYTES; i++) {
      again.push(await inlineOutputData(storage, job, log));
    }
    expect(again.every((a) => a.data.size === 1)).toBe(true);
    expect((await inlineOutputData(storage, job, log)).data.size).toBe(0);
    for (const a of again) a.release();
  });
});
