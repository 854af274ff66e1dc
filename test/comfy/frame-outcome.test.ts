/**
 * The ComfyUI client decides a prompt's end from its WebSocket frames when the socket kept one connection from
 * before the submit to the end: no `/history` or `/queue` read, and the same outcome history gives (same files,
 * same order, cached output nodes included). After a reconnect it falls back to history. Real comfy-lite over
 * HTTP and WebSocket, behind a proxy that counts the client's requests and bends the timing.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { PromptOutcome } from '../../src/comfy/contract.js';
import { outcomeFromHistory } from '../../src/comfy/history-outcome.js';
import { createComfyServer, type ComfyHttpServer } from '../../src/comfy/http-client.js';
import { historyAnswerSchema } from '../../src/comfy/schemas.js';
import { startComfyLite, type ComfyLiteServer } from '../../src/comfy-lite/server.js';
import type { Workflow } from '../../src/jobs/types.js';
import { startComfyProxy, type ComfyProxy, type ProxiedFrame } from './comfy-proxy.js';

/** Three output nodes (two saves and a preview, two images each) under ids that sort differently as text, one not an integer (like a subgraph node's). */
function threeOutputs(prefix: string): Workflow {
  return {
    '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 2, color: 0x336699 } },
    '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
    '10': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: `${prefix}/a` } },
    '9': { class_type: 'PreviewImage', inputs: { images: ['1', 0] } },
    'x:30': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: `${prefix}/b` } },
  };
}

let lite: ComfyLiteServer;
let proxy: ComfyProxy;
let client: ComfyHttpServer;

beforeAll(async () => {
  lite = await startComfyLite({ port: 0 });
});
afterAll(async () => {
  await lite.close();
});
beforeEach(async () => {
  proxy = await startComfyProxy(lite.url);
  // A 20 s watchdog: on a slow machine no watchdog read may count as a state read of a prompt that ran long.
  client = createComfyServer(proxy.url, {
    historyPollMs: 40,
    watchdogPollMs: 20_000,
    reconnect: { maxAttempts: 20, baseMs: 20 },
  });
  // As a worker does before its first job: the output_node flags tell cached output nodes from the others.
  await client.nodeCatalog();
});
afterEach(async () => {
  await client.close();
  await proxy.close();
});

/** The outcome a comfy-lite's own `/history/{id}` gives, read directly (not through the proxy). */
async function historyOutcome(promptId: string, server: ComfyLiteServer = lite): Promise<PromptOutcome> {
  const answer = historyAnswerSchema.parse(
    await fetch(new URL(`/history/${promptId}`, server.url)).then((r) => r.json()),
  );
  const entry = answer[promptId];
  if (entry === undefined) throw new Error(`no history for ${promptId}`);
  return outcomeFromHistory(entry);
}

/** The state reads the client made through the proxy. */
function stateReads(): string[] {
  return proxy.requests
    .map((r) => r.path.replace(/^\/api\//, '/'))
    .filter((p) => p.startsWith('/history') || p === '/queue');
}

const isDone =
  (promptId: string) =>
  (f: ProxiedFrame): boolean =>
    f.type === 'executing' && f.data.node === null && f.data.prompt_id === promptId;

describe('a prompt decided from its frames', () => {
  it('ends with no /history or /queue read, its outputs exactly as history lists them', async () => {
    const promptId = randomUUID();
    const outcome = await client.runPrompt(threeOutputs(`test/${promptId}`), { promptId });
    expect(outcome.kind).toBe('success');
    expect(stateReads()).toEqual([]);
    expect(outcome).toEqual(await historyOutcome(promptId));
    if (outcome.kind === 'success') {
      expect(outcome.outputs.map((f) => f.nodeId)).toEqual(['9', '9', '10', '10', 'x:30', 'x:30']);
    }
  });

  it('lists cached output nodes too: the same workflow twice gives the first run files both times', async () => {
    const workflow = threeOutputs(`test/${randomUUID()}`);
    const firstId = randomUUID();
    const first = await client.runPrompt(workflow, { promptId: firstId });
    const secondId = randomUUID();
    const cached: string[][] = [];
    const second = await client.runPrompt(workflow, {
      promptId: secondId,
      onNode: (e) => {
        if (e.kind === 'cached') cached.push(e.nodes);
      },
    });
    expect(cached).toEqual([['1', '2', '9', '10', 'x:30']]);
    expect(stateReads()).toEqual([]);
    expect(second).toEqual(await historyOutcome(secondId));
    expect(second).toEqual(first);
    expect(second.kind === 'success' && second.outputs).toHaveLength(6);
  });

  it('decides a runtime error from execution_error, as history records it', async () => {
    const promptId = randomUUID();
    const outcome = await client.runPrompt(
      {
        '1': { class_type: 'EmptyImage', inputs: { width: 4, height: 4, batch_size: 1, color: 7 } },
        '2': { class_type: 'ImageBlur', inputs: { image: ['1', 0], blur_radius: 5, sigma: 1 } },
        '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: `test/${promptId}` } },
      },
      { promptId },
    );
    expect(outcome).toMatchObject({ kind: 'error', nodeId: '2', nodeType: 'ImageBlur' });
    expect(stateReads()).toEqual([]);
    await proxy.whenForwarded(isDone(promptId));
    expect(outcome).toEqual(await historyOutcome(promptId));
  });

  it("keeps every output when the caller's node callback throws", async () => {
    const promptId = randomUUID();
    const outcome = await client.runPrompt(threeOutputs(`test/${promptId}`), {
      promptId,
      onNode: (e) => {
        if (e.kind === 'executed') throw new Error('a caller bug');
      },
    });
    expect(stateReads()).toEqual([]);
    expect(outcome).toEqual(await historyOutcome(promptId));
    expect(outcome.kind === 'success' && outcome.outputs).toHaveLength(6);
  });

  it('follows a prompt whose frames all arrive before the POST /prompt answer', async () => {
    proxy.holdPromptAnswer = (id) => proxy.whenForwarded(isDone(id));
    const promptId = randomUUID();
    const outcome = await client.runPrompt(threeOutputs(`test/${promptId}`), { promptId });
    expect(outcome.kind).toBe('success');
    expect(stateReads()).toEqual([]);
    expect(outcome).toEqual(await historyOutcome(promptId));
  });
});

describe('a prompt whose socket reconnected', () => {
  it('reads /history and gets every output, including those whose frames were lost', async () => {
    const promptId = randomUUID();
    let dropped = false;
    // The preview's `executed` frame is lost with the socket; the save's comes over the new connection.
    proxy.dropSocketAt = (f) => {
      if (dropped || f.type !== 'executed' || f.data.node !== '2') return false;
      dropped = true;
      return true;
    };
    const outcome = await client.runPrompt(
      {
        '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
        '2': { class_type: 'PreviewImage', inputs: { images: ['1', 0] } },
        '3': { class_type: 'ArrakisDelay', inputs: { image: ['1', 0], seconds: 0.4 } },
        '4': { class_type: 'SaveImage', inputs: { images: ['3', 0], filename_prefix: `test/${promptId}` } },
      },
      { promptId },
    );
    expect(dropped).toBe(true);
    expect(proxy.forwarded.some((f) => f.type === 'execution_success' && f.data.prompt_id === promptId)).toBe(
      true,
    );
    expect(stateReads().length).toBeGreaterThan(0);
    expect(outcome).toEqual(await historyOutcome(promptId));
    expect(outcome.kind === 'success' && outcome.outputs.map((f) => f.nodeId)).toEqual(['2', '4']);
  });
});

describe('a server older than August 2024: no executed frame for a cached output node', () => {
  let older: ComfyLiteServer;
  let olderProxy: ComfyProxy;
  let olderClient: ComfyHttpServer;

  beforeAll(async () => {
    older = await startComfyLite({ port: 0, legacy: { noExecutedForCached: true } });
  });
  afterAll(async () => {
    await older.close();
  });
  beforeEach(async () => {
    olderProxy = await startComfyProxy(older.url);
    olderClient = createComfyServer(olderProxy.url, { historyPollMs: 40, watchdogPollMs: 20_000 });
    await olderClient.nodeCatalog();
  });
  afterEach(async () => {
    await olderClient.close();
    await olderProxy.close();
  });

  it("reads /history for a cached rerun and reports every output history lists (the first run's files)", async () => {
    const workflow = threeOutputs(`test/${randomUUID()}`);
    const first = await olderClient.runPrompt(workflow, { promptId: randomUUID() });
    const secondId = randomUUID();
    const executed: string[] = [];
    const second = await olderClient.runPrompt(workflow, {
      promptId: secondId,
      onNode: (e) => {
        if (e.kind === 'executed') executed.push(e.node);
      },
    });
    expect(executed).toEqual([]);
    expect(olderProxy.requests.some((r) => r.path.replace(/^\/api\//, '/') === `/history/${secondId}`)).toBe(
      true,
    );
    expect(second).toEqual(await historyOutcome(secondId, older));
    expect(second).toEqual(first);
    expect(second.kind === 'success' && second.outputs).toHaveLength(6);
  });

  it('still decides from frames when the cached nodes are known not to be output nodes', async () => {
    await olderClient.runPrompt(threeOutputs(`test/${randomUUID()}`), { promptId: randomUUID() });
    // The same EmptyImage and ImageInvert (cached), saved under a new prefix (so the SaveImage runs).
    const { '1': image, '2': invert } = threeOutputs('unused');
    const promptId = randomUUID();
    const cached: string[][] = [];
    const before = olderProxy.requests.length;
    const outcome = await olderClient.runPrompt(
      {
        '1': image!,
        '2': invert!,
        '7': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: `test/${promptId}` } },
      },
      {
        promptId,
        onNode: (e) => {
          if (e.kind === 'cached') cached.push(e.nodes);
        },
      },
    );
    expect(cached).toEqual([['1', '2']]);
    const reads = olderProxy.requests.slice(before).filter((r) => /^(\/api)?\/(history|queue)/.test(r.path));
    expect(reads).toEqual([]);
    expect(outcome).toEqual(await historyOutcome(promptId, older));
    expect(outcome.kind === 'success' && outcome.outputs.map((f) => f.nodeId)).toEqual(['7', '7']);
  });
});
