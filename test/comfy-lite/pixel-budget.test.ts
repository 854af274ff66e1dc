/**
 * comfy-lite's pixel budget: an image batch too large for one process (EmptyImage 16384×16384, ComfyUI's own
 * maximum, is 3.2 GB a frame as float32) fails its node with a ComfyUI-style execution error before anything
 * is allocated, and the server goes on serving.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startComfyLite, type ComfyLiteServer } from '../../src/comfy-lite/server.js';
import { Client, postJson } from './helpers.js';

let server: ComfyLiteServer;

beforeAll(async () => {
  server = await startComfyLite({ port: 0, maxPixels: 64 * 64 });
});
afterAll(async () => {
  await server.close();
});

async function run(
  prompt: Record<string, unknown>,
  clientId: string,
): Promise<Record<string, unknown> | null> {
  const client = await Client.connect(server, clientId);
  const res = await postJson(server, '/prompt', { prompt, client_id: clientId });
  expect(res.status).toBe(200);
  const id = (res.json as { prompt_id: string }).prompt_id;
  await client.waitDone(id);
  client.close();
  const error = client.frames.find((f) => 'type' in f && f.type === 'execution_error');
  return error !== undefined && 'data' in error ? error.data : null;
}

const save = (from: string): unknown => ({
  class_type: 'SaveImage',
  inputs: { images: [from, 0], filename_prefix: 'budget/x' },
});

describe('pixel budget', () => {
  it('EmptyImage 16384×16384 ×4 is refused before allocating, as an execution error', async () => {
    const before = process.memoryUsage().arrayBuffers;
    const error = await run(
      {
        '1': { class_type: 'EmptyImage', inputs: { width: 16384, height: 16384, batch_size: 4, color: 0 } },
        '2': save('1'),
      },
      'budget-empty',
    );
    expect(error).toMatchObject({
      node_id: '1',
      node_type: 'EmptyImage',
      exception_type: 'torch.OutOfMemoryError',
      exception_message: expect.stringContaining('--max-pixels'),
    });
    // 4 × 3.2 GB was never allocated (a generous bound: well under one such frame).
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(512 * 2 ** 20);
  });

  it('a batch just within the budget runs; a scale past it is refused', async () => {
    expect(
      await run(
        {
          '1': { class_type: 'EmptyImage', inputs: { width: 64, height: 32, batch_size: 2, color: 1 } },
          '2': save('1'),
        },
        'budget-fits',
      ),
    ).toBeNull();
    const error = await run(
      {
        '1': { class_type: 'EmptyImage', inputs: { width: 16, height: 16, batch_size: 1, color: 2 } },
        '2': {
          class_type: 'ImageScaleBy',
          inputs: { image: ['1', 0], upscale_method: 'nearest-exact', scale_by: 8 },
        },
        '3': save('2'),
      },
      'budget-scale',
    );
    expect(error).toMatchObject({
      node_id: '2',
      node_type: 'ImageScaleBy',
      exception_type: 'torch.OutOfMemoryError',
    });
  });

  it('many batches that each fit but together pass the per-prompt budget are refused', async () => {
    const prompt: Record<string, unknown> = {
      '1': { class_type: 'EmptyImage', inputs: { width: 64, height: 64, batch_size: 1, color: 3 } },
    };
    for (let i = 2; i <= 8; i++)
      prompt[String(i)] = { class_type: 'ImageInvert', inputs: { image: [String(i - 1), 0] } };
    prompt['9'] = save('8');
    const error = await run(prompt, 'budget-prompt');
    expect(error).toMatchObject({ node_type: 'ImageInvert', exception_type: 'torch.OutOfMemoryError' });
    expect(String(error?.exception_message)).toContain('per prompt');
  });
});
