/**
 * Protocol corners of the ComfyUI client that comfy-lite does not produce, against a scripted stand-in that
 * answers with the real captures.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ComfyRejectedError, ComfyUnavailableError } from '../../src/comfy/contract.js';
import { outcomeFromHistory } from '../../src/comfy/history-outcome.js';
import { createComfyServer, type ComfyHttpServer } from '../../src/comfy/http-client.js';
import { historyEntrySchema } from '../../src/comfy/schemas.js';
import type { Workflow } from '../../src/jobs/types.js';
import { capture, capturedWorkflow, list, pick } from './captures.js';
import { startStandIn, type StandIn } from './stand-in-server.js';

const BASIC_ID = '4ffadc80-eaaf-46a8-ac21-d90428d1ba86';
/**
 * The clientId the captured prompts were submitted with (`prompt[3].client_id` of their history entries): the
 * client plays the one that submitted them, since it takes another client's entry for no end of its own.
 */
const CAPTURED_CLIENT = 'peer-client-1';
const successEntry = pick(capture('basic-history.json'), BASIC_ID);
const workflow: Workflow = { '1': { class_type: 'EmptyImage', inputs: {} } };

function accept(promptId: string) {
  return () => ({ status: 200, body: { prompt_id: promptId, number: 1, node_errors: {} } });
}

describe('ComfyUI client protocol corners', () => {
  let standIn: StandIn;
  let client: ComfyHttpServer | null = null;

  beforeEach(async () => {
    standIn = await startStandIn();
  });

  afterEach(async () => {
    await client?.close();
    client = null;
    await standIn.close();
  });

  it('follows the id the server chose when it ignores the caller prompt_id', async () => {
    client = createComfyServer(standIn.url, { clientId: CAPTURED_CLIENT, historyPollMs: 20 });
    standIn.answerPrompt = accept('server-own-id');
    standIn.history['server-own-id'] = successEntry;
    const queued: string[] = [];
    const ours = randomUUID();
    const outcome = await client.runPrompt(workflow, { promptId: ours, onQueued: (id) => queued.push(id) });
    expect(queued).toEqual(['server-own-id']);
    expect(outcome.kind === 'success' && outcome.outputs.map((f) => f.filename)).toContain(
      'basic_00001_.png',
    );
    const post = standIn.requests.find((r) => r.path === '/prompt');
    expect(post?.body).toMatchObject({ prompt_id: ours, client_id: client.clientId, prompt: workflow });
  });

  it('takes back a partially accepted prompt and reports the failing nodes', async () => {
    client = createComfyServer(standIn.url, { clientId: CAPTURED_CLIENT, historyPollMs: 20 });
    const partial = pick(capture('errors.json'), 'partial_ok', 1);
    const id = String(pick(partial, 'prompt_id'));
    standIn.answerPrompt = () => ({ status: 200, body: partial });
    standIn.queue.queue_pending = [[10, id, {}, {}, ['2']]];
    const error = await client.runPrompt(workflow, { promptId: randomUUID() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ComfyRejectedError);
    expect(error instanceof ComfyRejectedError && error.nodeErrors.map((n) => n.nodeId)).toEqual(['3']);
    expect(standIn.requests).toContainEqual({ method: 'POST', path: '/queue', body: { delete: [id] } });
  });

  it('is woken by frames: progress without prompt_id, binary and unknown frames ignored, end hint', async () => {
    // A one-minute watchdog: only the end frame can finish this prompt within the test timeout.
    client = createComfyServer(standIn.url, {
      clientId: CAPTURED_CLIENT,
      historyPollMs: 20,
      watchdogPollMs: 60_000,
    });
    standIn.answerPrompt = accept('p-frames');
    standIn.queue.queue_running = [[0, 'p-frames', {}, {}, ['3']]];
    const progress: unknown[] = [];
    const play = async () => {
      await standIn.connected();
      standIn.send(Buffer.from([0, 0, 0, 1, 0, 0, 0, 2, 0x89, 0x50]));
      standIn.send({ type: 'brand_new_event', data: { prompt_id: 'p-frames' } });
      standIn.send({ type: 'execution_start', data: { prompt_id: 'p-frames', timestamp: 1 } });
      standIn.send({ type: 'progress', data: { value: 1, max: 2, node: '2' } });
      standIn.send({ type: 'progress', data: { value: 1, max: 9, node: '2', prompt_id: 'someone-else' } });
      await new Promise((resolve) => setTimeout(resolve, 50));
      standIn.history['p-frames'] = successEntry;
      standIn.queue.queue_running = [];
      standIn.send({ type: 'executing', data: { node: null, prompt_id: 'p-frames' } });
    };
    const outcome = await client.runPrompt(workflow, {
      promptId: randomUUID(),
      onQueued: () => void play(),
      onProgress: (p) => progress.push(p),
    });
    expect(outcome.kind).toBe('success');
    expect(progress).toEqual([{ value: 1, max: 2, node: '2' }]);
  });

  it('decides from the captured frames what the captured history says, and falls back when a frame is garbled', async () => {
    // A server that keeps the caller's prompt_id; the frames are the real cached rerun's, re-addressed to ours.
    const answerOwnId = (body: unknown) => ({
      status: 200,
      body: { prompt_id: pick(body, 'prompt_id'), number: 1, node_errors: {} },
    });
    const rerun = list(capture('cached-rerun-ws.json')).filter(
      (f) => typeof f === 'object' && f !== null && 'type' in f,
    );
    const rerunEntry = pick(capture('cached-rerun-history.json'), 'my-own-id-0001');
    const expected = outcomeFromHistory(historyEntrySchema.parse(rerunEntry));
    const play = (id: string, garble: boolean) => () => {
      for (const frame of rerun) {
        const data = { ...(pick(frame, 'data') as object), prompt_id: id };
        const type = pick(frame, 'type');
        // An `executed` frame without its node id does not parse: that node's files are unknown from frames.
        if (garble && type === 'executed') Reflect.deleteProperty(data, 'node');
        if (type === 'execution_success') standIn.history[id] = rerunEntry;
        standIn.send({ type, data });
      }
    };
    client = createComfyServer(standIn.url, {
      clientId: CAPTURED_CLIENT,
      historyPollMs: 20,
      watchdogPollMs: 60_000,
    });
    standIn.answerPrompt = answerOwnId;
    // The cached EmptyImage and ImageInvert send no `executed`: /object_info says they are not output nodes.
    standIn.objectInfo = capture('object_info-subset.json');
    await client.nodeCatalog();
    const rerunWorkflow = capturedWorkflow(rerunEntry);
    const clean = randomUUID();
    expect(await client.runPrompt(rerunWorkflow, { promptId: clean, onQueued: play(clean, false) })).toEqual(
      expected,
    );
    expect(standIn.requests.filter((r) => r.path !== '/prompt' && r.path !== '/object_info')).toEqual([]);
    const garbled = randomUUID();
    expect(
      await client.runPrompt(rerunWorkflow, { promptId: garbled, onQueued: play(garbled, true) }),
    ).toEqual(expected);
    expect(standIn.requests.map((r) => r.path)).toContain(`/history/${garbled}`);
  });

  it('ends a prompt by the watchdog poll when the end frame never comes', async () => {
    client = createComfyServer(standIn.url, {
      clientId: CAPTURED_CLIENT,
      historyPollMs: 20,
      watchdogPollMs: 50,
    });
    standIn.answerPrompt = accept('p-silent');
    standIn.queue.queue_running = [[0, 'p-silent', {}, {}, ['3']]];
    const outcome = client.runPrompt(workflow, {
      promptId: randomUUID(),
      onQueued: () => {
        setTimeout(() => {
          standIn.history['p-silent'] = successEntry;
          standIn.queue.queue_running = [];
        }, 100);
      },
    });
    expect((await outcome).kind).toBe('success');
  });

  it('gives up with ComfyUnavailableError when the server stays unreachable past the grace', async () => {
    client = createComfyServer(standIn.url, {
      clientId: CAPTURED_CLIENT,
      historyPollMs: 20,
      unreachableGraceMs: 300,
      reconnect: { maxAttempts: 0, baseMs: 10 },
    });
    standIn.answerPrompt = accept('p-gone');
    standIn.queue.queue_running = [[0, 'p-gone', {}, {}, ['3']]];
    const outcome = client.runPrompt(workflow, {
      promptId: randomUUID(),
      onQueued: () => void standIn.close(),
    });
    await expect(outcome).rejects.toBeInstanceOf(ComfyUnavailableError);
  });

  it('caches node types until a refresh is asked for', async () => {
    client = createComfyServer(standIn.url, { clientId: CAPTURED_CLIENT });
    standIn.objectInfo = capture('object_info-subset.json');
    expect((await client.nodeTypes()).has('LoadImage')).toBe(true);
    standIn.objectInfo = { ArrakisDelay: {} };
    expect((await client.nodeTypes()).has('LoadImage')).toBe(true);
    expect(await client.nodeTypes({ refresh: true })).toEqual(new Set(['ArrakisDelay']));
    expect(standIn.requests.filter((r) => r.path === '/object_info')).toHaveLength(2);
  });

  it('times out a server that accepts requests but never answers', async () => {
    client = createComfyServer(standIn.url, { clientId: CAPTURED_CLIENT, requestTimeoutMs: 150 });
    standIn.hang = true;
    await expect(client.nodeTypes()).rejects.toBeInstanceOf(ComfyUnavailableError);
    expect((await client.health()).ok).toBe(false);
  });

  it('ends a running prompt with ComfyUnavailableError when the client closes', async () => {
    const closing = createComfyServer(standIn.url, { clientId: CAPTURED_CLIENT, historyPollMs: 20 });
    standIn.answerPrompt = accept('p-closed');
    standIn.queue.queue_running = [[0, 'p-closed', {}, {}, ['3']]];
    const outcome = closing.runPrompt(workflow, {
      promptId: randomUUID(),
      onQueued: () => void closing.close(),
    });
    await expect(outcome).rejects.toBeInstanceOf(ComfyUnavailableError);
  });
});
