/**
 * comfy-lite's test-only ArrakisEchoFile (a node naming any file it is given) exists only when comfy-lite starts
 * with `testOnlyNodes`: a default instance lists no such node and refuses a prompt using it exactly as ComfyUI
 * refuses an unknown class_type, while its own nodes (ArrakisDelay, ArrakisSample) stay.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startComfyLite, type ComfyLiteServer } from '../../src/comfy-lite/server.js';
import { capture, doneOf, getJson, postJson } from './helpers.js';

const errors = capture('errors.json') as Record<string, [number, unknown]>;

const echo = {
  class_type: 'ArrakisEchoFile',
  inputs: { filename: 'x.png', subfolder: 'a', folder_type: 'output' },
};
const empty = { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } };
const save = { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'echo/x' } };

let lite: ComfyLiteServer | null = null;
afterEach(async () => {
  await lite?.close();
  lite = null;
});

describe('a default comfy-lite', () => {
  it('lists no ArrakisEchoFile in object_info, and keeps its other Arrakis nodes', async () => {
    lite = await startComfyLite({ port: 0 });
    const all = (await getJson(lite, '/object_info')).json as Record<string, unknown>;
    expect(Object.keys(all)).not.toContain('ArrakisEchoFile');
    expect(Object.keys(all)).toEqual(expect.arrayContaining(['ArrakisDelay', 'ArrakisSample', 'SaveImage']));
    // ComfyUI answers an unknown class with {}.
    expect(await getJson(lite, '/object_info/ArrakisEchoFile')).toEqual({ status: 200, json: {} });
  });

  it('refuses a prompt using it as an unknown node, the way ComfyUI does, and queues nothing', async () => {
    lite = await startComfyLite({ port: 0 });
    const [status, body] = errors.unknown_class!;
    const named = JSON.stringify(body).replace('NoSuchNode', 'ArrakisEchoFile').replace("'#1'", "'#3'");
    // Refused even next to a valid output: an unknown class rejects the whole prompt.
    const answer = await postJson(lite, '/prompt', { prompt: { '1': empty, '2': save, '3': echo } });
    expect({ status: answer.status, json: answer.json }).toEqual({ status, json: JSON.parse(named) });
    expect((await getJson(lite, '/queue')).json).toEqual({ queue_running: [], queue_pending: [] });
    expect((await getJson(lite, '/history')).json).toEqual({});
  });
});

describe('comfy-lite with testOnlyNodes', () => {
  it('lists ArrakisEchoFile and runs it: its UI output names the file its inputs give', async () => {
    lite = await startComfyLite({ port: 0, testOnlyNodes: true });
    const info = (await getJson(lite, '/object_info/ArrakisEchoFile')).json as Record<
      string,
      { name: string }
    >;
    expect(info.ArrakisEchoFile?.name).toBe('ArrakisEchoFile');
    const promptId = 'echo-1';
    const done = doneOf(lite, promptId);
    const answer = await postJson(lite, '/prompt', {
      prompt: { '1': echo },
      client_id: 'c',
      prompt_id: promptId,
    });
    expect(answer).toMatchObject({ status: 200, json: { prompt_id: promptId, node_errors: {} } });
    expect(await done).toMatchObject({ status: 'success' });
    const history = (await getJson(lite, `/history/${promptId}`)).json as Record<
      string,
      { outputs: unknown }
    >;
    expect(history[promptId]?.outputs).toEqual({
      '1': { images: [{ filename: 'x.png', subfolder: 'a', type: 'output' }] },
    });
  });
});
