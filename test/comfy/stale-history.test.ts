/**
 * A prompt id used again on a ComfyUI that kept the first run's history entry (a job released and claimed again
 * keeps its attempt, so its prompt id): until the new run ends, `/history/{id}` shows the old entry, which is
 * another client's, and must not be taken for the new run's end.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createComfyServer } from '../../src/comfy/http-client.js';
import { ComfyHttp } from '../../src/comfy/http.js';
import { readPromptState } from '../../src/comfy/prompt-state.js';
import { startComfyLite } from '../../src/comfy-lite/server.js';
import type { Workflow } from '../../src/jobs/types.js';

type Lite = Awaited<ReturnType<typeof startComfyLite>>;

function workflow(prefix: string, seconds: number): Workflow {
  return {
    '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
    '2': { class_type: 'ArrakisDelay', inputs: { image: ['1', 0], seconds } },
    '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: prefix } },
  };
}

let lite: Lite;

beforeAll(async () => {
  lite = await startComfyLite({ port: 0 });
});

afterAll(async () => {
  await lite.close();
});

it("takes the end of a reused prompt id from its own run, not from the entry an earlier client's run left", async () => {
  const promptId = randomUUID();
  const first = createComfyServer(lite.url, { historyPollMs: 20 });
  const ended = await first.runPrompt(workflow('first/out', 0), { promptId });
  await first.close();
  expect(ended.kind).toBe('success');

  // The watchdog reads the prompt's state while it runs: the old entry is there the whole time.
  const second = createComfyServer(lite.url, { historyPollMs: 20, watchdogPollMs: 20 });
  try {
    const outcome = await second.runPrompt(workflow('second/out', 0.5), { promptId });
    expect(outcome.kind).toBe('success');
    const files = outcome.kind === 'success' ? outcome.outputs.map((o) => o.filename) : [];
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^out_\d+_\.png$/);
    expect(outcome.kind === 'success' ? outcome.outputs[0]?.subfolder : '').toBe('second');
  } finally {
    await second.close();
  }
});

it("reads another client's entry under the prompt id as not ended while the new prompt waits or runs", async () => {
  const promptId = randomUUID();
  const first = createComfyServer(lite.url, { historyPollMs: 20 });
  expect((await first.runPrompt(workflow('a/out', 0), { promptId })).kind).toBe('success');
  await first.close();
  const post = await fetch(`${lite.url}/prompt`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: workflow('b/out', 0.5), client_id: 'client-b', prompt_id: promptId }),
  });
  expect(post.status).toBe(200);
  const http = new ComfyHttp(lite.url, 5_000);
  try {
    expect((await readPromptState(http, promptId, 'client-b')).kind).toMatch(/^(running|pending)$/);
    // Without a client id (a server whose history records none), the entry counts as before.
    expect((await readPromptState(http, promptId)).kind).toBe('finished');
  } finally {
    await http.close();
  }
});
