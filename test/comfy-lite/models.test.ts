/**
 * Model loaders and ArrakisSample: load time paid once and then served from the node cache, the classic cache
 * keeping the last prompt's model and `--cache-lru N` keeping N node results (as ComfyUI's LRUCache does), the
 * file lists in object_info and validation, interrupts while sampling, and deterministic pictures.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ModelLoad } from '../../src/comfy-lite/nodes/loader-nodes.js';
import { startComfyLite, type ComfyLiteServer } from '../../src/comfy-lite/server.js';
import { Client, delayPrompt, getJson, postJson, type Frame } from './helpers.js';

const LOAD_MS = 300;
let root: string;
let modelsDir: string;
const servers: ComfyLiteServer[] = [];
const clients: Client[] = [];

async function put(path: string, bytes: string): Promise<void> {
  await mkdir(dirname(join(modelsDir, path)), { recursive: true });
  await writeFile(join(modelsDir, path), bytes);
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'lite-models-'));
  modelsDir = join(root, 'models');
  await put('checkpoints/a.safetensors', 'weights of a');
  await put('checkpoints/b.safetensors', 'weights of b');
  await put('checkpoints/c.ckpt', 'weights of c');
  await put('checkpoints/sd15/Z.safetensors', 'weights of z');
  await put('checkpoints/readme.txt', 'not a model');
  await put('loras/grain.safetensors', 'lora grain');
  await put('loras/ink.pt', 'lora ink');
  await put('vae/ft-mse.safetensors', 'vae');
  await put('unet/flux.safetensors', 'unet');
  await put('diffusion_models/wan.sft', 'dm');
  await put('vae_approx/taesd_decoder.pth', 'dec');
  await put('vae_approx/taesd_encoder.pth', 'enc');
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A comfy-lite over the test models, its load events and a connected client. */
async function start(
  cacheLru?: number,
): Promise<{ server: ComfyLiteServer; client: Client; loads: ModelLoad[] }> {
  const server = await startComfyLite({
    port: 0,
    modelsDir,
    modelLoadMs: LOAD_MS,
    ...(cacheLru === undefined ? {} : { cacheLru }),
  });
  servers.push(server);
  const loads: ModelLoad[] = [];
  server.events.on('load', (l: ModelLoad) => loads.push(l));
  const client = await Client.connect(server, 'models-client');
  clients.push(client);
  return { server, client, loads };
}

let seq = 0;
/** Checkpoint → (LoRA) → ArrakisSample → SaveImage; a new seed and prefix each time unless given. */
function txt2img(ckpt: string, o: { lora?: string; seed?: number; steps?: number; sps?: number } = {}) {
  seq++;
  const model = o.lora === undefined ? ['1', 0] : ['2', 0];
  return {
    '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: ckpt } },
    ...(o.lora === undefined
      ? {}
      : {
          '2': {
            class_type: 'LoraLoader',
            inputs: {
              model: ['1', 0],
              clip: ['1', 1],
              lora_name: o.lora,
              strength_model: 0.7,
              strength_clip: 1,
            },
          },
        }),
    '3': {
      class_type: 'ArrakisSample',
      inputs: {
        model,
        width: 64,
        height: 48,
        steps: o.steps ?? 2,
        seconds_per_step: o.sps ?? 0,
        seed: o.seed ?? seq,
      },
    },
    '4': { class_type: 'SaveImage', inputs: { images: ['3', 0], filename_prefix: `m/p${seq}` } },
  };
}

const framesOf = (client: Client, promptId: string): Frame[] =>
  client.frames.filter((f) => 'type' in f && f.data.prompt_id === promptId);
const executed = (client: Client, promptId: string): unknown[] =>
  framesOf(client, promptId).flatMap((f) =>
    'type' in f && f.type === 'executing' && f.data.node !== null ? [f.data.node] : [],
  );
const cachedNodes = (client: Client, promptId: string): unknown =>
  framesOf(client, promptId).flatMap((f) =>
    'type' in f && f.type === 'execution_cached' ? [f.data] : [],
  )[0];

/** Runs a prompt to its end; the time from the answer to `executing null`. */
async function run(
  server: ComfyLiteServer,
  client: Client,
  prompt: unknown,
): Promise<{ id: string; ms: number }> {
  const res = await postJson(server, '/prompt', { prompt, client_id: 'models-client' });
  expect(res.status, JSON.stringify(res.json)).toBe(200);
  const id = (res.json as { prompt_id: string }).prompt_id;
  const started = performance.now();
  await client.waitDone(id);
  const entry = (
    (await getJson(server, `/history/${id}`)).json as Record<string, { status: { status_str: string } }>
  )[id];
  expect(entry?.status.status_str).toBe('success');
  return { id, ms: performance.now() - started };
}

describe('loading models', () => {
  it('pays the load time once; a cached loader is not run again and sends no executing frame', async () => {
    const { server, client, loads } = await start();
    const first = await run(server, client, txt2img('a.safetensors'));
    // Less a timer's slack: a busy machine's clock reads can land a few ms short of the sleep that ran.
    expect(first.ms).toBeGreaterThanOrEqual(LOAD_MS * 0.9);
    expect(loads.map((l) => l.name)).toEqual(['a.safetensors']);
    expect(executed(client, first.id)).toEqual(['1', '3', '4']);
    const second = await run(server, client, txt2img('a.safetensors'));
    expect(loads).toHaveLength(1);
    expect(executed(client, second.id)).toEqual(['3', '4']);
    expect(cachedNodes(client, second.id)).toMatchObject({ nodes: ['1'] });
  });

  it('keeps only the last prompt’s model by default (ComfyUI’s classic cache)', async () => {
    const { server, client, loads } = await start();
    for (const ckpt of ['a.safetensors', 'b.safetensors', 'a.safetensors'])
      await run(server, client, txt2img(ckpt));
    expect(loads.map((l) => l.name)).toEqual(['a.safetensors', 'b.safetensors', 'a.safetensors']);
  });

  it('keeps every model while --cache-lru holds enough node results; switching back loads nothing', async () => {
    const { server, client, loads } = await start(64);
    const names = ['a.safetensors', 'b.safetensors', 'c.ckpt'];
    for (const ckpt of names) await run(server, client, txt2img(ckpt));
    for (const ckpt of names) {
      const back = await run(server, client, txt2img(ckpt));
      expect(executed(client, back.id)).toEqual(['3', '4']);
    }
    expect(loads.map((l) => l.name)).toEqual(names);
  });

  it('counts --cache-lru in node results, dropping the oldest prompts first as ComfyUI does', async () => {
    // Each prompt adds 3 results. With 4, the prompt before the last survives the clean-up: two models stay.
    const four = await start(4);
    for (const ckpt of ['a.safetensors', 'b.safetensors', 'a.safetensors', 'b.safetensors'])
      await run(four.server, four.client, txt2img(ckpt));
    expect(four.loads.map((l) => l.name)).toEqual(['a.safetensors', 'b.safetensors']);
    // With 2, cleaning goes up to the starting prompt's generation: only its own model survives.
    const two = await start(2);
    for (const ckpt of ['a.safetensors', 'b.safetensors', 'a.safetensors', 'b.safetensors'])
      await run(two.server, two.client, txt2img(ckpt));
    expect(two.loads).toHaveLength(4);
  });

  it('keeps the LoRA file in its node object when only the checkpoint changes', async () => {
    const { server, client, loads } = await start();
    await run(server, client, txt2img('a.safetensors', { lora: 'grain.safetensors' }));
    const switched = await run(server, client, txt2img('b.safetensors', { lora: 'grain.safetensors' }));
    expect(executed(client, switched.id)).toEqual(['1', '2', '3', '4']);
    expect(loads.map((l) => `${l.folder}/${l.name}`)).toEqual([
      'checkpoints/a.safetensors',
      'loras/grain.safetensors',
      'checkpoints/b.safetensors',
    ]);
  });

  it('fails the loader with ComfyUI’s FileNotFoundError when the file vanished after validation', async () => {
    const { server, client } = await start();
    await put('checkpoints/doomed.safetensors', 'short-lived');
    const first = await postJson(server, '/prompt', {
      prompt: delayPrompt(1, 1),
      client_id: 'models-client',
    });
    const res = await postJson(server, '/prompt', {
      prompt: txt2img('doomed.safetensors'),
      client_id: 'models-client',
    });
    expect([first.status, res.status]).toEqual([200, 200]);
    await rm(join(modelsDir, 'checkpoints/doomed.safetensors'));
    const id = (res.json as { prompt_id: string }).prompt_id;
    const error = await client.waitFor(
      (f) => 'type' in f && f.type === 'execution_error' && f.data.prompt_id === id,
    );
    expect(error).toMatchObject({
      data: {
        node_id: '1',
        node_type: 'CheckpointLoaderSimple',
        exception_type: 'FileNotFoundError',
        exception_message: "Model in folder 'checkpoints' with filename 'doomed.safetensors' not found.",
        current_inputs: { ckpt_name: ['doomed.safetensors'] },
      },
    });
  });

  it('drops every loaded model on POST /free {"free_memory": true}', async () => {
    const { server, client, loads } = await start(64);
    await run(server, client, txt2img('a.safetensors'));
    expect((await postJson(server, '/free', { free_memory: true })).status).toBe(200);
    await run(server, client, txt2img('a.safetensors'));
    expect(loads).toHaveLength(2);
  });
});

describe('file lists', () => {
  it('lists model files in object_info as ComfyUI does, and a new file appears on the next request', async () => {
    const { server } = await start();
    const info = async (node: string): Promise<Record<string, unknown[]>> =>
      (
        (await getJson(server, `/object_info/${node}`)).json as Record<
          string,
          { input: { required: Record<string, unknown[]> } }
        >
      )[node]!.input.required;
    expect((await info('CheckpointLoaderSimple')).ckpt_name).toEqual([
      ['a.safetensors', 'b.safetensors', 'c.ckpt', 'sd15/Z.safetensors'],
      { tooltip: 'The name of the checkpoint (model) to load.' },
    ]);
    expect((await info('LoraLoader')).lora_name![0]).toEqual(['grain.safetensors', 'ink.pt']);
    expect((await info('VAELoader')).vae_name).toEqual([['ft-mse.safetensors', 'taesd', 'pixel_space']]);
    expect((await info('UNETLoader')).unet_name).toEqual([['flux.safetensors', 'wan.sft']]);
    expect((await getJson(server, '/models/loras')).json).toEqual(['grain.safetensors', 'ink.pt']);
    await put('checkpoints/B-new.safetensors', 'new');
    try {
      expect(((await info('CheckpointLoaderSimple')).ckpt_name![0] as string[])[0]).toBe('B-new.safetensors');
    } finally {
      await rm(join(modelsDir, 'checkpoints/B-new.safetensors'));
    }
  });

  it('refuses an unknown checkpoint with value_not_in_list, like ComfyUI', async () => {
    const { server } = await start();
    const res = await postJson(server, '/prompt', { prompt: txt2img('missing.safetensors') });
    expect(res.status).toBe(400);
    const files = ['a.safetensors', 'b.safetensors', 'c.ckpt', 'sd15/Z.safetensors'];
    expect(res.json).toEqual({
      error: {
        type: 'prompt_outputs_failed_validation',
        message: 'Prompt outputs failed validation',
        details: '',
        extra_info: {},
      },
      node_errors: {
        '1': {
          errors: [
            {
              type: 'value_not_in_list',
              message: 'Value not in list',
              details: `ckpt_name: 'missing.safetensors' not in ['a.safetensors', 'b.safetensors', 'c.ckpt', 'sd15/Z.safetensors']`,
              extra_info: {
                input_name: 'ckpt_name',
                input_config: [files, { tooltip: 'The name of the checkpoint (model) to load.' }],
                received_value: 'missing.safetensors',
              },
            },
          ],
          dependent_outputs: ['4'],
          class_type: 'CheckpointLoaderSimple',
        },
      },
    });
  });
});

describe('ArrakisSample', () => {
  it('reports progress per step like KSampler and makes the same picture for the same model and seed', async () => {
    const { server, client } = await start();
    const png = async (id: string): Promise<Buffer> => {
      const entry = (
        (await getJson(server, `/history/${id}`)).json as Record<
          string,
          { outputs: Record<string, { images: Array<{ filename: string; subfolder: string }> }> }
        >
      )[id]!;
      const image = entry.outputs['4']!.images[0]!;
      return await sharp(join(server.dataDir, 'output', image.subfolder, image.filename))
        .raw()
        .toBuffer();
    };
    const a = await run(server, client, txt2img('a.safetensors', { seed: 7, steps: 3 }));
    const progress = framesOf(client, a.id).flatMap((f) =>
      'type' in f && f.type === 'progress' ? [f.data] : [],
    );
    expect(progress).toEqual([1, 2, 3].map((value) => ({ value, max: 3, prompt_id: a.id, node: '3' })));
    await postJson(server, '/free', { free_memory: true }); // so the same prompt samples again
    const again = await run(server, client, txt2img('a.safetensors', { seed: 7, steps: 3 }));
    expect(executed(client, again.id)).toEqual(['1', '3', '4']);
    const other = await run(server, client, txt2img('b.safetensors', { seed: 7, steps: 3 }));
    const lora = await run(server, client, txt2img('a.safetensors', { seed: 7, steps: 3, lora: 'ink.pt' }));
    const [pa, pAgain, pOther, pLora] = (await Promise.all(
      [a, again, other, lora].map((r) => png(r.id)),
    )) as [Buffer, Buffer, Buffer, Buffer];
    expect(pa.length).toBe(64 * 48 * 3);
    expect(pAgain.equals(pa)).toBe(true);
    expect(pOther.equals(pa)).toBe(false);
    expect(pLora.equals(pa)).toBe(false);
  });

  it('stops at once on interrupt, in the middle of a step', async () => {
    const { server, client } = await start();
    // 30 s steps: the prompt can only end in time if the interrupt cuts the step short.
    const res = await postJson(server, '/prompt', {
      prompt: txt2img('a.safetensors', { steps: 2, sps: 30 }),
      client_id: 'models-client',
    });
    const id = (res.json as { prompt_id: string }).prompt_id;
    await client.waitFor(
      (f) => 'type' in f && f.type === 'executing' && f.data.node === '3' && f.data.prompt_id === id,
    );
    await postJson(server, '/interrupt', {});
    const stopped = await client.waitFor(
      (f) => 'type' in f && f.type === 'execution_interrupted' && f.data.prompt_id === id,
      10_000,
    );
    expect(stopped).toMatchObject({ data: { node_id: '3', node_type: 'ArrakisSample', executed: ['1'] } });
    expect(framesOf(client, id).some((f) => 'type' in f && f.type === 'progress')).toBe(false);
    await client.waitDone(id);
  });
});
