/** The basic and cached runs against the real ComfyUI captures: POST answer, WebSocket frames, history, pixels. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ComfyLiteServer } from '../../src/comfy-lite/server.js';
import { readTextChunks } from '../../src/comfy-lite/image/png-text.js';
import { capture, Client, doneOf, getJson, postJson, shape, startServer, type Frame } from './helpers.js';

type CapFrame = { type?: string; data?: Record<string, unknown>; binary_event?: number };

const basicHistory = capture('basic-history.json') as Record<string, { prompt: unknown[] }>;
const capturedPrompt = Object.values(basicHistory)[0]!.prompt[2];
const capturedExtra = { extra_pnginfo: { workflow: { id: 'wf-123' } } };

const capTypes = (frames: CapFrame[]): Array<string | number> =>
  frames.map((f) => f.type ?? f.binary_event ?? '?');
/** Frames from execution_start on (the leading `status` frames depend on when the capture connected). */
const fromStart = <T>(types: T[]): T[] => types.slice(types.indexOf('execution_start' as T));

let server: ComfyLiteServer;
let client: Client;

beforeAll(async () => {
  server = await startServer();
  client = await Client.connect(server, 'peer-client-1');
});
afterAll(async () => {
  client.close();
  await server.close();
});

describe('basic run (EmptyImage → ImageInvert → SaveImage + PreviewImage + SaveImageWebsocket)', () => {
  let promptId = '';

  it('answers POST /prompt like ComfyUI and sends the captured frame sequence', async () => {
    expect(client.frames[0]).toEqual({
      type: 'status',
      data: { status: { exec_info: { queue_remaining: 0 } }, sid: 'peer-client-1' },
    });
    client.clear();
    const res = await postJson(server, '/prompt', {
      prompt: capturedPrompt,
      client_id: 'peer-client-1',
      extra_data: capturedExtra,
    });
    expect(res.status).toBe(200);
    expect(shape(res.json)).toEqual(shape((capture('basic-post.json') as { resp: unknown }).resp));
    promptId = (res.json as { prompt_id: string }).prompt_id;
    await client.waitDone(promptId);
    const expected = capTypes(capture('basic-ws.json') as CapFrame[]);
    expect(fromStart(client.types())).toEqual(fromStart(expected));
    expect(client.types().slice(0, 2)).toEqual(['status', 'status']);
    expect(client.types().at(-2)).toBe('status');
  });

  it('writes history with the captured shape, outputs and status', async () => {
    const { status, json } = await getJson(server, `/history/${promptId}`);
    expect(status).toBe(200);
    const mine = (json as Record<string, Record<string, unknown>>)[promptId]!;
    const theirs = Object.values(basicHistory)[0] as unknown as Record<string, unknown>;
    expect(Object.keys(mine)).toEqual(['prompt', 'outputs', 'status', 'meta']);
    expect(shape(mine.status)).toEqual(shape(theirs.status));
    expect(shape(mine.meta)).toEqual(shape(theirs.meta));
    expect((mine.outputs as Record<string, unknown>)['3']).toEqual(
      (theirs.outputs as Record<string, unknown>)['3'],
    );
    expect(shape(mine.prompt)).toEqual(shape(theirs.prompt));
  });

  it('saves PNGs whose pixels follow ComfyUI float math and carry prompt and workflow chunks', async () => {
    const png = await readFile(join(server.dataDir, 'output', 'peer', 'basic_00001_.png'));
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([64, 48, 3]);
    expect([...data.subarray(0, 3)]).toEqual([0, 255, 255]);
    const texts = readTextChunks(png);
    expect(JSON.parse(texts.prompt!)).toEqual(capturedPrompt);
    expect(texts.prompt).toContain('"class_type": "EmptyImage"');
    expect(texts.workflow).toBe('{"id": "wf-123"}');
  });

  it('sends SaveImageWebsocket images as binary PNG preview frames (type 1, format 2)', () => {
    const binaries = client.frames.filter((f): f is Extract<Frame, { binary: number }> => 'binary' in f);
    expect(binaries).toHaveLength(2);
    expect(binaries[0]!.bytes.readUInt32BE(4)).toBe(2);
    expect(binaries[0]!.bytes.subarray(8, 12).toString('hex')).toBe('89504e47');
  });
});

describe('cached rerun', () => {
  it('runs nothing but SaveImageWebsocket and points history at the first files', async () => {
    const first = await getJson(server, '/history');
    const firstId = Object.keys(first.json as object)[0]!;
    client.clear();
    const res = await postJson(server, '/prompt', {
      prompt: capturedPrompt,
      client_id: 'peer-client-1',
      prompt_id: 'my-own-id-0001',
    });
    expect(res.json).toEqual({ prompt_id: 'my-own-id-0001', number: 1, node_errors: {} });
    await client.waitDone('my-own-id-0001');
    const theirs = capture('cached-rerun-ws.json') as CapFrame[];
    const cached = client.frames.find((f) => 'type' in f && f.type === 'execution_cached');
    expect(cached).toMatchObject({ data: { nodes: ['1', '2', '3', '4'], prompt_id: 'my-own-id-0001' } });
    // ComfyUI runs output nodes in Python set order; compare the frames of each node and the overall frame.
    for (const node of ['3', '4', '5']) {
      const of = (frames: Array<CapFrame | Frame>): unknown[] =>
        frames
          .filter((f) => 'type' in f && f.data?.node === node && f.type !== 'progress_state')
          .map((f) => ('type' in f ? f.type : ''));
      expect(of(client.frames)).toEqual(of(theirs));
    }
    expect(client.types().filter((t) => t !== 'progress_state').length).toBe(
      capTypes(theirs).filter((t) => t !== 'progress_state').length,
    );
    expect(client.types().slice(-3)).toEqual(['execution_success', 'status', 'executing']);
    const history = (await getJson(server, '/history/my-own-id-0001')).json as Record<
      string,
      Record<string, unknown>
    >;
    const theirsHistory = Object.values(capture('cached-rerun-history.json') as object)[0] as Record<
      string,
      unknown
    >;
    const firstOutputs = (first.json as Record<string, { outputs: unknown }>)[firstId]!.outputs;
    expect(history['my-own-id-0001']!.outputs).toEqual(firstOutputs);
    expect(shape(history['my-own-id-0001'])).toEqual(shape(theirsHistory));
  });

  it('really runs SaveImage again when the filename_prefix is new', async () => {
    const prompt = structuredClone(capturedPrompt) as Record<string, { inputs: Record<string, unknown> }>;
    prompt['3']!.inputs.filename_prefix = 'arrakis/job_x/out';
    const res = await postJson(server, '/prompt', { prompt, client_id: 'peer-client-1' });
    const id = (res.json as { prompt_id: string }).prompt_id;
    await client.waitDone(id);
    const history = (await getJson(server, `/history/${id}`)).json as Record<
      string,
      { outputs: Record<string, unknown> }
    >;
    expect(history[id]!.outputs['3']).toEqual({
      images: [
        { filename: 'out_00001_.png', subfolder: 'arrakis/job_x', type: 'output' },
        { filename: 'out_00002_.png', subfolder: 'arrakis/job_x', type: 'output' },
      ],
    });
  });
});

describe('executed frames and history', () => {
  it("lists in history exactly the outputs of the prompt's executed frames, in arrival order, cached nodes too", async () => {
    // ComfyUI (since October 2025) builds history `outputs` from the same dict it sends `executed` from, in
    // execution order, cached output nodes included: a client can take a prompt's outputs from its frames.
    const prompt = {
      '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 2, color: 0x336699 } },
      '10': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'order/a' } },
      'x:9': { class_type: 'PreviewImage', inputs: { images: ['1', 0] } },
      'x:30': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'order/b' } },
    };
    for (const run of ['fresh', 'cached']) {
      client.clear();
      const res = await postJson(server, '/prompt', { prompt, client_id: 'peer-client-1' });
      const id = (res.json as { prompt_id: string }).prompt_id;
      await client.waitDone(id);
      const fromFrames: Record<string, unknown> = {};
      for (const f of client.frames) {
        if ('type' in f && f.type === 'executed' && f.data.prompt_id === id && f.data.output !== null)
          fromFrames[String(f.data.node)] = f.data.output;
      }
      const history = (await getJson(server, `/history/${id}`)).json as Record<string, { outputs: object }>;
      expect(Object.keys(fromFrames), run).toHaveLength(3);
      expect(JSON.stringify(history[id]!.outputs), run).toBe(JSON.stringify(fromFrames));
      const types = client.types().filter((t) => t !== 'progress_state');
      expect(types.slice(-3), run).toEqual(['execution_success', 'status', 'executing']);
    }
  });
});

describe('image math', () => {
  it('inverts EmptyImage colors with ComfyUI float32 math (16 → 239, 65 → 189, not 190)', async () => {
    const prompt = {
      '1': { class_type: 'EmptyImage', inputs: { width: 4, height: 4, batch_size: 1, color: 0x104100 } },
      '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
      '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'math/invert' } },
    };
    const res = await postJson(server, '/prompt', { prompt, client_id: 'peer-client-1' });
    const id = (res.json as { prompt_id: string }).prompt_id;
    await doneOf(server, id);
    const view = await fetch(`${server.url}/view?filename=invert_00001_.png&subfolder=math&type=output`);
    expect(view.headers.get('content-type')).toBe('image/png');
    const data = await sharp(Buffer.from(await view.arrayBuffer()))
      .raw()
      .toBuffer();
    // numpy: 255 * (1 - float32(c/255)) in float32, clipped, truncated. For 16 that is exactly 239.0; for 65 it is
    // 189.99998 → 189 (integer math would give 190). Checked against numpy for all 256 values.
    expect([...data.subarray(0, 3)]).toEqual([239, 189, 255]);
    expect(new Set(data)).toEqual(new Set([239, 189, 255]));
  });

  it('loads an uploaded image with LoadImage (subfolder/name) and saves the same pixels', async () => {
    const raw = Buffer.alloc(5 * 3 * 3);
    for (let i = 0; i < raw.length; i++) raw[i] = (i * 17) % 256;
    const png = await sharp(raw, { raw: { width: 5, height: 3, channels: 3 } })
      .png()
      .toBuffer();
    const form = new FormData();
    form.set('image', new Blob([png], { type: 'image/png' }), 'src.png');
    form.set('subfolder', 'tenantA');
    const up = await fetch(`${server.url}/upload/image`, { method: 'POST', body: form });
    expect(await up.json()).toEqual({ name: 'src.png', subfolder: 'tenantA', type: 'input' });
    const prompt = {
      '1': { class_type: 'LoadImage', inputs: { image: 'tenantA/src.png' } },
      '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'peer/loaded' } },
    };
    const res = await postJson(server, '/prompt', { prompt, client_id: 'peer-client-1' });
    expect(res.status).toBe(200);
    const id = (res.json as { prompt_id: string }).prompt_id;
    expect(await doneOf(server, id)).toEqual({ promptId: id, status: 'success' });
    const history = (await getJson(server, `/history/${id}`)).json as Record<string, { outputs: unknown }>;
    expect(history[id]!.outputs).toEqual(
      (capture('upload-loadimage-queue.json') as Record<string, unknown>).loadimage_history_outputs,
    );
    const saved = await sharp(join(server.dataDir, 'output', 'peer', 'loaded_00001_.png'))
      .raw()
      .toBuffer();
    expect(saved.equals(raw)).toBe(true);
  });
});

describe('feature flags', () => {
  it('answers a client feature_flags message and then sends previews as type 4 frames with metadata', async () => {
    const flagged = await Client.connect(server, 'flagged');
    flagged.ws.send(JSON.stringify({ type: 'feature_flags', data: { supports_preview_metadata: true } }));
    const reply = await flagged.waitFor((f) => 'type' in f && f.type === 'feature_flags');
    expect(reply).toEqual(
      (capture('cancel.json') as { feature_flags_msgs: unknown[] }).feature_flags_msgs[0],
    );
    const prompt = {
      '1': { class_type: 'EmptyImage', inputs: { width: 2, height: 2, batch_size: 1, color: 5 } },
      '2': { class_type: 'SaveImageWebsocket', inputs: { images: ['1', 0] } },
    };
    const res = await postJson(server, '/prompt', { prompt, client_id: 'flagged' });
    const id = (res.json as { prompt_id: string }).prompt_id;
    await flagged.waitDone(id);
    flagged.close();
    const types = flagged.types();
    const at = types.indexOf(4);
    expect(types.slice(at - 1, at + 2)).toEqual(['progress_state', 4, 'progress']);
    const frame = flagged.frames[at] as Extract<Frame, { binary: number }>;
    const length = frame.bytes.readUInt32BE(4);
    expect(JSON.parse(frame.bytes.subarray(8, 8 + length).toString())).toEqual({
      node_id: '2',
      prompt_id: id,
      display_node_id: '2',
      parent_node_id: null,
      real_node_id: '2',
      image_type: 'image/png',
    });
    expect(frame.bytes.subarray(8 + length, 12 + length).toString('hex')).toBe('89504e47');
  });
});
