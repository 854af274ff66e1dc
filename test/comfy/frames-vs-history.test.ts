/**
 * The frames path and the history path of the ComfyUI client give the same outputs, in the same order, on
 * servers of every age, played from the real cached-rerun capture (ComfyUI 0.3.65) by a scripted stand-in: a
 * server older than August 2024 sends no `executed` for cached output nodes (history decides), a client that has
 * not loaded /object_info cannot tell cached output nodes from others (history decides), and a history whose
 * `outputs` keys come in Python set order lists subgraph-style node ids in the frames' order.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { outcomeFromHistory } from '../../src/comfy/history-outcome.js';
import { createComfyServer, type ComfyHttpServer } from '../../src/comfy/http-client.js';
import { historyEntrySchema } from '../../src/comfy/schemas.js';
import { capture, capturedWorkflow, captureText, list, pick } from './captures.js';
import { startStandIn, type StandIn } from './stand-in-server.js';

/** The clientId the captured prompts were submitted with (the client plays the one that submitted them). */
const CAPTURED_CLIENT = 'peer-client-1';
const CAPTURED_ID = 'my-own-id-0001';

/**
 * The captured cached rerun (text frames and history entry) with node ids renamed: every JSON string equal to a
 * key of `rename` (node ids, links, `display_node`, `nodes` lists, history keys) becomes its value.
 */
function cachedRerun(rename: Record<string, string> = {}): { frames: unknown[]; entry: unknown } {
  // Renamed in the text: a parse first would put the integer keys of history's `outputs` in ascending order.
  const renamed = (file: string): unknown => {
    let text = captureText(file);
    for (const [from, to] of Object.entries(rename))
      text = text.split(JSON.stringify(from)).join(JSON.stringify(to));
    const parsed: unknown = JSON.parse(text);
    return parsed;
  };
  const frames = list(renamed('cached-rerun-ws.json')).filter(
    (f) => typeof f === 'object' && f !== null && 'type' in f,
  );
  return { frames, entry: pick(renamed('cached-rerun-history.json'), CAPTURED_ID) };
}

let standIn: StandIn;
let client: ComfyHttpServer;

beforeEach(async () => {
  standIn = await startStandIn();
  standIn.objectInfo = capture('object_info-subset.json');
  // Keeps the caller's prompt_id, as servers since 2025 do.
  standIn.answerPrompt = (body) => ({
    status: 200,
    body: { prompt_id: pick(body, 'prompt_id'), number: 1, node_errors: {} },
  });
  // A one-minute watchdog: within the test only an end frame (or a history read after one) ends a prompt.
  client = createComfyServer(standIn.url, {
    clientId: CAPTURED_CLIENT,
    historyPollMs: 20,
    watchdogPollMs: 60_000,
  });
});

afterEach(async () => {
  await client.close();
  await standIn.close();
});

/** Sends the frames re-addressed to `id` (those `keep` accepts), writing history as `execution_success` goes. */
function play(id: string, frames: unknown[], entry: unknown, keep: (frame: unknown) => boolean = () => true) {
  return (): void => {
    for (const frame of frames.filter(keep)) {
      const type = pick(frame, 'type');
      if (type === 'execution_success') standIn.history[id] = entry;
      standIn.send({ type, data: { ...(pick(frame, 'data') as object), prompt_id: id } });
    }
  };
}

const historyReads = (id: string): number =>
  standIn.requests.filter((r) => r.path === `/history/${id}`).length;

describe('a cached output node on a server older than August 2024 (no executed frame for it)', () => {
  it('leaves the outputs to /history, which lists the cached nodes the frames never named', async () => {
    const { frames, entry } = cachedRerun();
    await client.nodeCatalog();
    const id = randomUUID();
    // The cached SaveImage (3) and PreviewImage (4) announce nothing; the uncached SaveImageWebsocket (5) runs.
    const older = (f: unknown): boolean => pick(f, 'type') !== 'executed';
    const outcome = await client.runPrompt(capturedWorkflow(entry), {
      promptId: id,
      onQueued: play(id, frames, entry, older),
    });
    expect(historyReads(id)).toBeGreaterThan(0);
    expect(outcome).toEqual(outcomeFromHistory(historyEntrySchema.parse(entry)));
    expect(outcome.kind === 'success' && outcome.outputs.map((f) => f.nodeId)).toEqual(['3', '3', '4', '4']);
  });

  it('reads /history when /object_info is not loaded: a cached node without executed may be an output node', async () => {
    const { frames, entry } = cachedRerun();
    const id = randomUUID();
    // Today's frames: `executed` for 3 and 4, none for the cached EmptyImage (1) and ImageInvert (2).
    const outcome = await client.runPrompt(capturedWorkflow(entry), {
      promptId: id,
      onQueued: play(id, frames, entry),
    });
    expect(standIn.requests.some((r) => r.path === '/object_info')).toBe(false);
    expect(historyReads(id)).toBeGreaterThan(0);
    expect(outcome).toEqual(outcomeFromHistory(historyEntrySchema.parse(entry)));
  });
});

describe('output order of non-integer node ids', () => {
  it('is the same from frames as from a history that keys outputs in Python set order', async () => {
    // As in a subgraph: the capture's frames name 10:3 then 10:4, its history (0.3.65: a Python set) 10:4 first.
    const { frames, entry } = cachedRerun({ '3': '10:3', '4': '10:4' });
    expect(Object.keys(pick(entry, 'outputs') as object)).toEqual(['10:4', '10:3']);
    await client.nodeCatalog();
    const id = randomUUID();
    const outcome = await client.runPrompt(capturedWorkflow(entry), {
      promptId: id,
      onQueued: play(id, frames, entry),
    });
    expect(historyReads(id)).toBe(0);
    expect(outcome).toEqual(outcomeFromHistory(historyEntrySchema.parse(entry)));
    expect(outcome.kind === 'success' && outcome.outputs.map((f) => f.nodeId)).toEqual([
      '10:3',
      '10:3',
      '10:4',
      '10:4',
    ]);
  });
});
