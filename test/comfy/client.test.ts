/**
 * The ComfyUI client against comfy-lite over real HTTP and WebSocket on 127.0.0.1: runs, progress, both kinds
 * of cancel, a dropped socket, rejections, a restarted server, uploads.
 */
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ComfyRejectedError, ComfyUnavailableError, type PromptOutcome } from '../../src/comfy/contract.js';
import { createComfyServer, type ComfyHttpServer } from '../../src/comfy/http-client.js';
import { rewriteWorkflowForJob } from '../../src/comfy/workflow-rewrite.js';
import { startComfyLite } from '../../src/comfy-lite/server.js';
import type { Workflow } from '../../src/jobs/types.js';

type Lite = Awaited<ReturnType<typeof startComfyLite>>;

const FAST = { historyPollMs: 40, requestTimeoutMs: 5_000, reconnect: { maxAttempts: 20, baseMs: 20 } };

function invertWorkflow(prefix: string): Workflow {
  return {
    '1': { class_type: 'EmptyImage', inputs: { width: 16, height: 8, batch_size: 1, color: 0x102030 } },
    '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
    '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: prefix } },
  };
}

function delayWorkflow(prefix: string, seconds: number): Workflow {
  return {
    '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
    '2': { class_type: 'ArrakisDelay', inputs: { image: ['1', 0], seconds } },
    '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: prefix } },
  };
}

/** The prompt id an event of comfy-lite carries, whatever the payload shape. */
function eventPromptId(payload: unknown): unknown {
  if (typeof payload === 'string') return payload;
  if (typeof payload !== 'object' || payload === null) return undefined;
  return Reflect.get(payload, 'promptId') ?? Reflect.get(payload, 'prompt_id');
}

/** Resolves on the first progress callback, so a test acts while the prompt really runs. */
function firstProgress(): { onProgress: () => void; started: Promise<void> } {
  let resolve: () => void = () => undefined;
  const started = new Promise<void>((r) => (resolve = r));
  return { onProgress: () => resolve(), started };
}

describe('ComfyUI client against comfy-lite', () => {
  let lite: Lite;
  let client: ComfyHttpServer;

  beforeAll(async () => {
    lite = await startComfyLite({ port: 0 });
    client = createComfyServer(lite.url, FAST);
  });

  afterAll(async () => {
    await client.close();
    await lite.close();
  });

  it('reports health and the node types', async () => {
    expect((await client.health()).ok).toBe(true);
    const types = await client.nodeTypes();
    expect(types.has('ArrakisDelay')).toBe(true);
    expect(types.has('SaveImage')).toBe(true);
    types.clear();
    expect((await client.nodeTypes()).size).toBeGreaterThan(5);
  });

  it('runs EmptyImage → ImageInvert → SaveImage and downloads the PNG', async () => {
    const promptId = randomUUID();
    const queued: string[] = [];
    const outcome = await client.runPrompt(invertWorkflow(`test/${promptId}`), {
      promptId,
      onQueued: (id) => queued.push(id),
    });
    expect(queued).toEqual([promptId]);
    if (outcome.kind !== 'success') throw new Error(`expected success, got ${JSON.stringify(outcome)}`);
    const saved = outcome.outputs.filter((f) => f.type === 'output');
    expect(saved).toHaveLength(1);
    expect(saved[0]?.nodeId).toBe('3');
    const png = await client.download(saved[0]!);
    expect(png.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
    const { data } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    // Saving truncates (1 - x) * 255, so an inverted 16 may come back as 238 or 239.
    const expected = [255 - 0x10, 255 - 0x20, 255 - 0x30];
    expect([...data.subarray(0, 3)].every((v, i) => Math.abs(v - expected[i]!) <= 1)).toBe(true);
  });

  it('follows concurrent prompts on the one shared socket, each to its own files', async () => {
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    const outcomes = await Promise.all(
      ids.map((id) => client.runPrompt(delayWorkflow(`test/${id}`, 0.1), { promptId: id })),
    );
    // A prefix `test/<id>` saves as subfolder `test`, file `<id>_00001_.png`.
    const files = outcomes.map((o) => (o.kind === 'success' ? o.outputs[0]?.filename : o.kind));
    expect(files).toEqual(ids.map((id) => `${id}_00001_.png`));
  });

  it('reports progress from ArrakisDelay', async () => {
    const seen: { value: number; max: number; node: string | null }[] = [];
    const outcome = await client.runPrompt(delayWorkflow(`test/${randomUUID()}`, 0.3), {
      promptId: randomUUID(),
      onProgress: (p) => seen.push(p),
    });
    expect(outcome.kind).toBe('success');
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((p) => p.node === '2' && p.max > 0 && p.value <= p.max)).toBe(true);
  });

  it('interrupts a running prompt with a targeted interrupt when the signal aborts', async () => {
    const promptId = randomUUID();
    const interrupts: unknown[] = [];
    const onInterrupt = (payload: unknown) => interrupts.push(eventPromptId(payload));
    lite.events.on('interrupt', onInterrupt);
    const abort = new AbortController();
    const progress = firstProgress();
    const running = client.runPrompt(delayWorkflow(`test/${promptId}`, 30), {
      promptId,
      signal: abort.signal,
      onProgress: progress.onProgress,
    });
    await progress.started;
    const abortedAt = Date.now();
    abort.abort();
    expect(await running).toEqual({ kind: 'interrupted' });
    // The node would wait 30 s: ending well before proves the interrupt stopped it.
    expect(Date.now() - abortedAt).toBeLessThan(10_000);
    lite.events.off('interrupt', onInterrupt);
    expect(interrupts).toContain(promptId);
  });

  it('submits nothing when the signal aborts while the socket is being opened', async () => {
    // A fleet preload stopped by a claimed job right after it started: its prompt must not reach ComfyUI
    // (where it could run ahead of the job's prompt until interrupted).
    const fresh = createComfyServer(lite.url, FAST);
    const promptId = randomUUID();
    const submitted: unknown[] = [];
    const onPrompt = (payload: unknown) => submitted.push(eventPromptId(payload));
    lite.events.on('prompt', onPrompt);
    try {
      const abort = new AbortController();
      const running = fresh.runPrompt(invertWorkflow(`test/${promptId}`), { promptId, signal: abort.signal });
      abort.abort();
      expect(await running).toEqual({ kind: 'interrupted' });
      // A prompt sent after this one proves the server has handled anything sent before it.
      expect(
        (await fresh.runPrompt(invertWorkflow(`test/${randomUUID()}`), { promptId: randomUUID() })).kind,
      ).toBe('success');
    } finally {
      lite.events.off('prompt', onPrompt);
      await fresh.close();
    }
    expect(submitted).toHaveLength(1);
    expect(submitted).not.toContain(promptId);
  });

  it('deletes a pending prompt from the queue and never runs it', async () => {
    const blockerId = randomUUID();
    const pendingId = randomUUID();
    const started: unknown[] = [];
    const onPrompt = (payload: unknown) => started.push(eventPromptId(payload));
    const blockerAbort = new AbortController();
    const progress = firstProgress();
    const blocker = client.runPrompt(delayWorkflow(`test/${blockerId}`, 30), {
      promptId: blockerId,
      signal: blockerAbort.signal,
      onProgress: progress.onProgress,
    });
    await progress.started;
    const abort = new AbortController();
    lite.events.on('done', onPrompt);
    const pending = client.runPrompt(invertWorkflow(`test/${pendingId}`), {
      promptId: pendingId,
      signal: abort.signal,
      onQueued: () => abort.abort(),
    });
    expect(await pending).toEqual({ kind: 'interrupted' });
    const queue = await fetch(new URL('/queue', lite.url)).then((r) => r.text());
    expect(queue).not.toContain(pendingId);
    blockerAbort.abort();
    expect(await blocker).toEqual({ kind: 'interrupted' });
    lite.events.off('done', onPrompt);
    expect(started).not.toContain(pendingId);
    const history = await fetch(new URL(`/history/${pendingId}`, lite.url)).then((r) => r.json());
    expect(history).toEqual({});
  });

  it('still ends a prompt through /history when the socket drops and never comes back', async () => {
    // No reconnect and a one-minute watchdog: only polling /history while the socket is down can end it.
    const lonely = createComfyServer(lite.url, {
      ...FAST,
      watchdogPollMs: 60_000,
      reconnect: { maxAttempts: 0, baseMs: 20 },
    });
    try {
      const progress = firstProgress();
      const outcome = lonely.runPrompt(delayWorkflow(`test/${randomUUID()}`, 0.5), {
        promptId: randomUUID(),
        onProgress: progress.onProgress,
      });
      await progress.started;
      lite.dropSockets();
      const result = await outcome;
      expect(result.kind).toBe('success');
    } finally {
      await lonely.close();
    }
  });

  it('reconnects a dropped socket by itself and keeps receiving progress', async () => {
    let dropped = false;
    let afterDrop = 0;
    const outcome = await client.runPrompt(delayWorkflow(`test/${randomUUID()}`, 1), {
      promptId: randomUUID(),
      onProgress: () => {
        if (dropped) afterDrop += 1;
        else {
          dropped = true;
          lite.dropSockets();
        }
      },
    });
    expect(outcome.kind).toBe('success');
    expect(afterDrop).toBeGreaterThan(0);
  });

  it('rejects an unknown class and a bad link with the node ids', async () => {
    const unknown: Workflow = {
      ...invertWorkflow('test/rejected'),
      '2': { class_type: 'NoSuchNode', inputs: { image: ['1', 0] } },
    };
    const unknownError = await client.runPrompt(unknown, { promptId: randomUUID() }).catch((e: unknown) => e);
    expect(unknownError).toBeInstanceOf(ComfyRejectedError);
    if (unknownError instanceof ComfyRejectedError) {
      expect(unknownError.nodeErrors.map((n) => n.nodeId)).toEqual(['2']);
    }
    const badLink: Workflow = {
      ...invertWorkflow('test/rejected'),
      '3': { class_type: 'SaveImage', inputs: { images: ['99', 0], filename_prefix: 'x' } },
    };
    const linkError = await client.runPrompt(badLink, { promptId: randomUUID() }).catch((e: unknown) => e);
    expect(linkError).toBeInstanceOf(ComfyRejectedError);
    if (linkError instanceof ComfyRejectedError) {
      expect(linkError.nodeErrors.map((n) => n.nodeId)).toEqual(['3']);
    }
  });

  it('uploads an input and runs LoadImage on it after the job rewrite', async () => {
    const red = await sharp({
      create: { width: 4, height: 4, channels: 3, background: { r: 255, g: 0, b: 0 } },
    })
      .png()
      .toBuffer();
    const jobId = randomUUID();
    const uploaded = await client.uploadInput(red, 'photo.png', `arrakis-in-${jobId}`);
    expect(uploaded).toBe(`arrakis-in-${jobId}/photo.png`);
    const workflow = rewriteWorkflowForJob(
      {
        '1': { class_type: 'LoadImage', inputs: { image: 'photo' } },
        '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
        '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'inverted' } },
      },
      jobId,
      { photo: uploaded },
    );
    const outcome = await client.runPrompt(workflow, { promptId: randomUUID() });
    if (outcome.kind !== 'success') throw new Error(`expected success, got ${JSON.stringify(outcome)}`);
    const file = outcome.outputs.find((f) => f.type === 'output');
    expect(file?.subfolder).toBe(`arrakis/${jobId}`);
    const { data } = await sharp(await client.download(file!))
      .raw()
      .toBuffer({ resolveWithObject: true });
    expect([...data.subarray(0, 3)]).toEqual([0, 255, 255]);
  });
});

describe('ComfyUI client when the server goes away', () => {
  it('ends a prompt as lost (or unavailable) when ComfyUI restarts mid-prompt, never hanging', async () => {
    const first = await startComfyLite({ port: 0 });
    const client = createComfyServer(first.url, FAST);
    let second: Lite | null = null;
    try {
      const progress = firstProgress();
      const running = client
        .runPrompt(delayWorkflow(`test/${randomUUID()}`, 30), {
          promptId: randomUUID(),
          onProgress: progress.onProgress,
        })
        .catch((error: unknown) => error);
      await progress.started;
      await first.close();
      second = await startComfyLite({ port: first.port });
      const result: PromptOutcome | unknown = await running;
      const lostOrUnavailable =
        result instanceof ComfyUnavailableError ||
        (typeof result === 'object' && result !== null && Reflect.get(result, 'kind') === 'lost');
      expect(lostOrUnavailable).toBe(true);
    } finally {
      await client.close();
      await second?.close();
    }
  });

  it('answers ComfyUnavailableError when nothing listens and when the peer is not ComfyUI', async () => {
    const dead = await startComfyLite({ port: 0 });
    await dead.close();
    const client = createComfyServer(dead.url, { ...FAST, reconnect: { maxAttempts: 0, baseMs: 10 } });
    expect((await client.health()).ok).toBe(false);
    await expect(client.runPrompt(invertWorkflow('x'), { promptId: randomUUID() })).rejects.toBeInstanceOf(
      ComfyUnavailableError,
    );
    await client.close();

    const { createServer } = await import('node:http');
    const notComfy = createServer((_req, res) => res.end('<html>hello</html>'));
    notComfy.listen(0, '127.0.0.1');
    await once(notComfy, 'listening');
    const address = notComfy.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const confused = createComfyServer(`http://127.0.0.1:${port}`, {
      ...FAST,
      reconnect: { maxAttempts: 0, baseMs: 10 },
    });
    expect((await confused.health()).ok).toBe(false);
    await expect(confused.nodeTypes()).rejects.toBeInstanceOf(ComfyUnavailableError);
    await expect(confused.runPrompt(invertWorkflow('x'), { promptId: randomUUID() })).rejects.toBeInstanceOf(
      ComfyUnavailableError,
    );
    await confused.close();
    notComfy.close();
  });
});
