/** Every rejection and runtime error shape of errors.json, plus the per-input checks the captures do not cover. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ComfyLiteServer } from '../../src/comfy-lite/server.js';
import { capture, Client, doneOf, getJson, postJson, startServer, withoutTracebacks } from './helpers.js';

const errors = capture('errors.json') as Record<string, [number, unknown]>;
const uploads = capture('upload-loadimage-queue.json') as Record<string, [number, unknown]>;

const empty = { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } };
const save = (from: string): unknown => ({
  class_type: 'SaveImage',
  inputs: { images: [from, 0], filename_prefix: 'err/x' },
});

/** The prompts behind each captured rejection (reconstructed from the captured answers). */
const cases: Record<string, { body: unknown; expected: [number, unknown] }> = {
  no_prompt: { body: {}, expected: errors.no_prompt! },
  unknown_class: {
    body: { prompt: { '1': { class_type: 'NoSuchNode', inputs: {} } } },
    expected: errors.unknown_class!,
  },
  missing_class_type: { body: { prompt: { '1': { inputs: {} } } }, expected: errors.missing_class_type! },
  no_outputs: { body: { prompt: { '1': empty } }, expected: errors.no_outputs! },
  missing_input: {
    body: { prompt: { '1': empty, '2': { class_type: 'SaveImage', inputs: { filename_prefix: 'x' } } } },
    expected: errors.missing_input!,
  },
  out_of_range: {
    body: { prompt: { '1': { ...empty, inputs: { ...empty.inputs, width: 0 } }, '2': save('1') } },
    expected: errors.out_of_range!,
  },
  bad_link: { body: { prompt: { '1': empty, '2': save('99') } }, expected: errors.bad_link! },
  bad_combo: {
    body: {
      prompt: {
        '1': empty,
        '2': {
          class_type: 'ImageScale',
          inputs: { image: ['1', 0], upscale_method: 'nope', width: 4, height: 4, crop: 'disabled' },
        },
        '3': save('2'),
      },
    },
    expected: errors.bad_combo!,
  },
  loadimage_missing: {
    body: {
      prompt: { '1': { class_type: 'LoadImage', inputs: { image: 'tenantA/missing.png' } }, '2': save('1') },
    },
    expected: uploads.loadimage_missing!,
  },
};

let server: ComfyLiteServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server.close();
});

describe('POST /prompt rejections match the captures', () => {
  for (const [name, { body, expected }] of Object.entries(cases)) {
    it(name, async () => {
      const res = await postJson(server, '/prompt', body);
      expect([res.status, withoutTracebacks(res.json)]).toEqual(withoutTracebacks(expected));
    });
  }

  it('partial_ok: 200 with node_errors when another output is valid', async () => {
    const prompt = {
      '1': empty,
      '2': save('1'),
      '3': { class_type: 'SaveImage', inputs: { filename_prefix: 'x' } },
    };
    const res = await postJson(server, '/api/prompt', { prompt });
    const [status, theirs] = errors.partial_ok! as [number, { node_errors: unknown }];
    expect(res.status).toBe(status);
    expect((res.json as { node_errors: unknown }).node_errors).toEqual(theirs.node_errors);
    expect(Object.keys(res.json as object)).toEqual(Object.keys(theirs));
    expect((await getJson(server, '/queue')).json).toMatchObject({ queue_pending: [] });
  });
});

describe('per-input validation', () => {
  const firstError = async (prompt: unknown): Promise<{ type: string; message: string; details: string }> => {
    const res = await postJson(server, '/prompt', { prompt });
    expect(res.status).toBe(400);
    const nodeErrors = (
      res.json as {
        node_errors: Record<string, { errors: Array<{ type: string; message: string; details: string }> }>;
      }
    ).node_errors;
    return Object.values(nodeErrors)[0]!.errors[0]!;
  };

  it('value_bigger_than_max and invalid_input_type use Python wording', async () => {
    const big = await firstError({
      '1': { ...empty, inputs: { ...empty.inputs, color: 16777216 } },
      '2': save('1'),
    });
    expect(big).toMatchObject({
      type: 'value_bigger_than_max',
      message: 'Value 16777216 bigger than max of 16777215',
      details: 'color',
    });
    const blur = { class_type: 'ImageBlur', inputs: { image: ['1', 0], blur_radius: 1, sigma: 0.05 } };
    const small = await firstError({ '1': empty, '2': blur, '3': save('2') });
    expect(small).toMatchObject({
      type: 'value_smaller_than_min',
      message: 'Value 0.05 smaller than min of 0.1',
    });
    const bad = await firstError({
      '1': { ...empty, inputs: { ...empty.inputs, width: 'wide' } },
      '2': save('1'),
    });
    expect(bad).toMatchObject({
      type: 'invalid_input_type',
      message: 'Failed to convert an input value to a INT value',
      details: "width, wide, invalid literal for int() with base 10: 'wide'",
    });
  });

  it('bad_linked_input, return_type_mismatch and exception_during_inner_validation', async () => {
    expect(
      await firstError({
        '1': empty,
        '2': { class_type: 'SaveImage', inputs: { images: ['1'], filename_prefix: 'x' } },
      }),
    ).toMatchObject({ type: 'bad_linked_input', details: 'images' });
    const load = { class_type: 'LoadImage', inputs: { image: 'nope.png' } };
    const mismatch = await firstError({
      '1': load,
      '2': { class_type: 'SaveImage', inputs: { images: ['1', 1], filename_prefix: 'x' } },
    });
    expect(mismatch).toMatchObject({
      type: 'return_type_mismatch',
      details: 'images, received_type(MASK) mismatch input_type(IMAGE)',
    });
    const inner = await firstError({
      '2': { class_type: 'ImageInvert', inputs: { image: ['99', 0] } },
      '3': save('2'),
    });
    expect(inner).toMatchObject({ type: 'exception_during_inner_validation', details: "'99'" });
  });

  it('converts literal inputs the way Python does and stores them converted in the queued prompt', async () => {
    const done = doneOf(server, 'converted');
    const prompt = {
      '1': { ...empty, inputs: { ...empty.inputs, width: '8', height: 8.9 } },
      '2': save('1'),
    };
    expect((await postJson(server, '/prompt', { prompt, prompt_id: 'converted' })).status).toBe(200);
    await done;
    const h = (await getJson(server, '/history/converted')).json as Record<
      string,
      { prompt: [number, string, Record<string, { inputs: unknown }>] }
    >;
    expect(h.converted!.prompt[2]['1']!.inputs).toMatchObject({ width: 8, height: 8 });
  });
});

describe('runtime errors', () => {
  it('sends execution_error → status → executing null and records an error history', async () => {
    const client = await Client.connect(server, 'peer-client-err');
    const prompt = {
      '1': { class_type: 'EmptyImage', inputs: { width: 4, height: 4, batch_size: 1, color: 7 } },
      '2': { class_type: 'ImageBlur', inputs: { image: ['1', 0], blur_radius: 5, sigma: 1 } },
      '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'peer/err' } },
    };
    const res = await postJson(server, '/prompt', { prompt, client_id: 'peer-client-err' });
    expect(res.status).toBe(200);
    expect((res.json as { node_errors: unknown }).node_errors).toEqual({});
    const id = (res.json as { prompt_id: string }).prompt_id;
    await client.waitDone(id);
    client.close();
    const theirWs = errors.runtime_error_ws as unknown as Array<{
      type: string;
      data: Record<string, unknown>;
    }>;
    const mine = client.frames.flatMap((f) => ('type' in f && f.type !== 'progress_state' ? [f] : []));
    expect(mine.slice(-3).map((f) => f.type)).toEqual(theirWs.slice(-3).map((f) => f.type));
    const error = mine.find((f) => f.type === 'execution_error')!;
    expect(Object.keys(error.data).sort()).toEqual(
      Object.keys(theirWs.find((f) => f.type === 'execution_error')!.data).sort(),
    );
    expect(error.data).toMatchObject({
      node_id: '2',
      node_type: 'ImageBlur',
      exception_type: 'RuntimeError',
      executed: ['1'],
    });
    const history = (
      (await getJson(server, `/history/${id}`)).json as Record<string, Record<string, unknown>>
    )[id]!;
    const theirs = Object.values(
      (errors.runtime_error_history as unknown as [number, Record<string, Record<string, unknown>>])[1],
    )[0]!;
    expect(Object.keys(history)).toEqual(Object.keys(theirs));
    expect(history.outputs).toEqual({});
    expect(history.meta).toEqual({});
    const status = history.status as {
      status_str: string;
      completed: boolean;
      messages: Array<[string, unknown]>;
    };
    expect([status.status_str, status.completed, status.messages.map((m) => m[0])]).toEqual([
      'error',
      false,
      ['execution_start', 'execution_cached', 'execution_error'],
    ]);
  });

  it('reports an unreadable upload as PIL does', async () => {
    const form = new FormData();
    form.set('image', new Blob([Buffer.from('not an image')]), 'broken.png');
    await fetch(`${server.url}/upload/image`, { method: 'POST', body: form });
    const client = await Client.connect(server, 'peer-client-broken');
    const prompt = { '1': { class_type: 'LoadImage', inputs: { image: 'broken.png' } }, '2': save('1') };
    const res = await postJson(server, '/prompt', { prompt, client_id: 'peer-client-broken' });
    const id = (res.json as { prompt_id: string }).prompt_id;
    await client.waitDone(id);
    client.close();
    const error = client.frames.find((f) => 'type' in f && f.type === 'execution_error');
    expect(error).toMatchObject({
      data: { node_id: '1', node_type: 'LoadImage', exception_type: 'PIL.UnidentifiedImageError' },
    });
  });

  it('refuses to save outside the output folder, as ComfyUI raises', async () => {
    const client = await Client.connect(server, 'peer-client-escape');
    const prompt = {
      '1': empty,
      '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: '../../escaped' } },
    };
    const res = await postJson(server, '/prompt', { prompt, client_id: 'peer-client-escape' });
    const id = (res.json as { prompt_id: string }).prompt_id;
    await client.waitDone(id);
    client.close();
    const error = client.frames.find((f) => 'type' in f && f.type === 'execution_error');
    expect(error).toMatchObject({
      data: {
        node_id: '2',
        node_type: 'SaveImage',
        exception_type: 'Exception',
        exception_message: expect.stringContaining('Saving image outside the output folder is not allowed'),
      },
    });
  });
});
