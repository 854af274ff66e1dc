/**
 * A fleet prefetch that fails is background work that ends: a source answering 404 is tried a bounded number of
 * times with growing gaps, then given up and the ask dropped (the fleet's plan no longer sees the worker
 * `fetching` it); a source that never answers does not keep the worker from claiming a queued job.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalJobChannel } from '../../src/agent/local-job-channel.js';
import { ModelKeeper, type PrefetchRetryOptions } from '../../src/agent/model-keeper.js';
import { ModelCache } from '../../src/models/model-cache.js';
import type { ModelRef } from '../../src/models/model-refs.js';
import { Harness, invertWorkflow } from './harness.js';

let h: Harness | null = null;
let source: Server | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
  source?.closeAllConnections();
  await new Promise((r) => (source === null ? r(null) : source.close(r)));
  source = null;
});

const REF: ModelRef = { kind: 'checkpoint', name: 'wanted.safetensors' };

/** A model source on 127.0.0.1 that records when it was asked and answers with `answer` (or never). */
async function startSource(answer: 'not-found' | 'never'): Promise<{ url: string; hits: number[] }> {
  const hits: number[] = [];
  source = createServer((_req, res) => {
    hits.push(Date.now());
    if (answer === 'not-found') res.writeHead(404).end('no such file');
    // 'never': the request is held open; no headers ever come.
  });
  await new Promise<void>((r) => source!.listen(0, '127.0.0.1', r));
  const addr = source.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  return { url: `http://127.0.0.1:${port}`, hits };
}

async function until(what: string, ok: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts an agent with a model cache in the harness dir and registers REF at `url`; returns its worker id. */
async function startAgent(
  harness: Harness,
  url: string,
  lines: Array<{ level: string; msg: string; details: string }>,
  retry?: PrefetchRetryOptions,
): Promise<string> {
  const lite = await harness.startComfy();
  await harness.store.createModelFile(
    {
      name: REF.name,
      kind: REF.kind,
      url,
      sha256: createHash('sha256').update('x').digest('hex'),
      size: 1,
    },
    Date.now(),
  );
  const record = (level: string) => (details: Record<string, unknown>, msg: string) =>
    lines.push({ level, msg, details: JSON.stringify(details) });
  const log = { info: record('info'), warn: record('warn') };
  const channel = new LocalJobChannel({ service: harness.service, bus: harness.bus });
  const cache = new ModelCache({ dir: join(harness.dir, 'models'), budgetBytes: 1e6 });
  const models = new ModelKeeper({ channel, comfyUrl: lite.url, cache, log, prefetchRetry: retry });
  const agent = await harness.startAgent(lite.url, { channel, models, log, claimWaitMs: 500 });
  await until(
    'the agent reporting its models',
    async () => {
      const w = await harness.store.getWorker(agent.workerId!);
      return w?.models?.known === true;
    },
    10_000,
  );
  await harness.service.prefetchModels(agent.workerId!, [REF]);
  return agent.workerId!;
}

describe('a failing fleet prefetch', () => {
  it('is tried a bounded number of times with growing gaps, then given up and its ask dropped', async () => {
    h = await Harness.create();
    const src = await startSource('not-found');
    const lines: Array<{ level: string; msg: string; details: string }> = [];
    const minMs = 400;
    const workerId = await startAgent(h, `http://fleet:s3cret@${src.url.slice(7)}/m?sig=TOKEN`, lines, {
      tries: 4,
      backoff: { minMs, maxMs: 60_000 },
      giveUpMs: 60_000,
    });
    await until(
      'the ask dropped',
      async () => (await h!.store.getWorker(workerId))?.models?.prefetch.length === 0,
      15_000,
    );
    expect(src.hits).toHaveLength(4);
    // The fleet's plan reads this to ask the worker for another file.
    expect(await h.service.prefetchRefused(workerId)).toEqual([REF.name]);
    const gaps = src.hits.slice(1).map((t, i) => t - src.hits[i]!);
    // Each gap is at least its backoff delay (min·2^i less the 25% jitter); load only makes them longer.
    gaps.forEach((gap, i) => expect(gap).toBeGreaterThanOrEqual(minMs * 2 ** i * 0.75 - 20));
    expect(gaps[2]!).toBeGreaterThan(gaps[0]!);
    // Given up: no further tries while the agent idles on.
    await new Promise((r) => setTimeout(r, 1500));
    expect(src.hits).toHaveLength(4);
    const warnings = lines.filter((l) => l.level === 'warn');
    // One when the file starts failing, one when it is given up: not one per try.
    expect(warnings.map((w) => w.msg)).toEqual([
      expect.stringMatching(/prefetching model file "wanted.safetensors" failed; retrying/),
      expect.stringMatching(/gave up prefetching/),
    ]);
    const text = JSON.stringify(lines);
    expect(text).toContain('answered 404');
    expect(text).not.toContain('s3cret');
    expect(text).not.toContain('TOKEN');
  });

  it('does not keep the worker from claiming a job while its source never answers', async () => {
    h = await Harness.create();
    const src = await startSource('never');
    const workerId = await startAgent(h, `${src.url}/m`, []);
    await until('the prefetch in flight', () => src.hits.length > 0, 10_000);
    const worker = await h.store.getWorker(workerId);
    expect(worker?.models?.prefetch).toEqual([REF]);
    const began = Date.now();
    const job = await h.admit(invertWorkflow('during-prefetch'));
    // The source holds its headers for 30 s; a claim waiting on the prefetch would take that long at least.
    const done = await h.waitForEnd(job.id, 10_000);
    expect(done.status).toBe('completed');
    expect(done.workerId).toBe(workerId);
    expect(Date.now() - began).toBeLessThan(10_000);
  });
});
