/**
 * LoadImageOutput and LoadImageSetFromFolderNode as real ComfyUI runs them: annotated names resolved against the
 * data folders and joined without confinement, a folder combo listing every input subfolder. These tests show the
 * attacks Arrakis must refuse really do read another job's files when nothing stands in front of ComfyUI
 * (test/e2e/file-isolation.test.ts proves Arrakis refuses them).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startComfyLite, type ComfyLiteServer } from '../../src/comfy-lite/server.js';
import { doneOf, getJson, postJson } from './helpers.js';

const VICTIM = 'job_victim01';
let root: string;
let outside: string;
let server: ComfyLiteServer;

async function png(rgb: [number, number, number], width = 3, height = 2): Promise<Buffer> {
  const [r, g, b] = rgb;
  return await sharp({ create: { width, height, channels: 3, background: { r, g, b } } })
    .png()
    .toBuffer();
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'comfy-lite-files-'));
  outside = await mkdtemp(join(tmpdir(), 'gpu-host-'));
  server = await startComfyLite({ port: 0, dataDir: join(root, 'data') });
  // Another job's output and input, and a file elsewhere on the host.
  await mkdir(join(server.dataDir, 'output', 'arrakis', VICTIM), { recursive: true });
  await mkdir(join(server.dataDir, 'input', 'arrakis', VICTIM), { recursive: true });
  await writeFile(join(server.dataDir, 'output', 'arrakis', VICTIM, 'x_00001_.png'), await png([10, 20, 30]));
  await writeFile(join(server.dataDir, 'input', 'arrakis', VICTIM, 'private.png'), await png([40, 50, 60]));
  await writeFile(join(outside, 'secret.png'), await png([70, 80, 90]));
});
afterAll(async () => {
  await server.close();
  await rm(root, { recursive: true, force: true });
  await rm(outside, { recursive: true, force: true });
});

let counter = 0;

/** Runs `loader → SaveImage` and returns the first saved pixel, or the 400 answer when validation refuses. */
async function firstPixel(
  loader: Record<string, unknown>,
): Promise<number[] | { status: number; json: any }> {
  const id = `p${++counter}`;
  const done = doneOf(server, id);
  const prompt = {
    '1': loader,
    '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: `stolen/p${counter}` } },
  };
  const posted = await postJson(server, '/prompt', { prompt, prompt_id: id });
  if (posted.status !== 200) return { status: posted.status, json: posted.json };
  expect((await done).status).toBe('success');
  const history = (await getJson(server, `/history/${id}`)).json as any;
  const image = history[id].outputs['2'].images[0];
  const saved = join(server.dataDir, 'output', image.subfolder, image.filename);
  const { data } = await sharp(saved).raw().toBuffer({ resolveWithObject: true });
  return [...data.subarray(0, 3)];
}

describe('LoadImageOutput (ComfyUI semantics, no confinement)', () => {
  it('is listed in /object_info exactly as ComfyUI lists it', async () => {
    const info = (await getJson(server, '/object_info/LoadImageOutput')).json as any;
    expect(info.LoadImageOutput.input.required.image).toEqual([
      'COMBO',
      {
        image_upload: true,
        image_folder: 'output',
        remote: { route: '/internal/files/output', refresh_button: true, control_after_refresh: 'first' },
      },
    ]);
    expect(info.LoadImageOutput).toMatchObject({
      output: ['IMAGE', 'MASK'],
      experimental: true,
      category: 'image',
    });
  });

  it('reads another job output with `name [output]`', async () => {
    expect(
      await firstPixel({
        class_type: 'LoadImageOutput',
        inputs: { image: `arrakis/${VICTIM}/x_00001_.png [output]` },
      }),
    ).toEqual([10, 20, 30]);
  });

  it('reads another job input with `../input/... [output]`', async () => {
    const image = `../input/arrakis/${VICTIM}/private.png [output]`;
    expect(await firstPixel({ class_type: 'LoadImageOutput', inputs: { image } })).toEqual([40, 50, 60]);
  });

  it('reads any file on the host by absolute path or a chain of ../', async () => {
    const absolute = join(outside, 'secret.png');
    expect(
      await firstPixel({ class_type: 'LoadImageOutput', inputs: { image: `${absolute} [output]` } }),
    ).toEqual([70, 80, 90]);
    const climb = `${'../'.repeat(40)}${absolute.slice(1)} [output]`;
    expect(await firstPixel({ class_type: 'LoadImageOutput', inputs: { image: climb } })).toEqual([
      70, 80, 90,
    ]);
  });

  it('LoadImage itself follows annotations too (Arrakis rewrites it to the job inputs)', async () => {
    const image = `arrakis/${VICTIM}/x_00001_.png [output]`;
    expect(await firstPixel({ class_type: 'LoadImage', inputs: { image } })).toEqual([10, 20, 30]);
  });
});

describe('LoadImageSetFromFolderNode (ComfyUI semantics)', () => {
  it('offers every input subfolder, other jobs upload folders included', async () => {
    const info = (await getJson(server, '/object_info/LoadImageSetFromFolderNode')).json as any;
    const folders = info.LoadImageSetFromFolderNode.input.required.folder[0];
    expect(folders).toEqual(expect.arrayContaining(['arrakis', `arrakis/${VICTIM}`]));
    expect(info.LoadImageSetFromFolderNode.input.optional.resize_method[0]).toEqual([
      'None',
      'Stretch',
      'Crop',
      'Pad',
    ]);
  });

  it('loads a whole folder of another job', async () => {
    const loader = {
      class_type: 'LoadImageSetFromFolderNode',
      inputs: { folder: `arrakis/${VICTIM}`, resize_method: 'None' },
    };
    expect(await firstPixel(loader)).toEqual([40, 50, 60]);
  });

  it('refuses a folder outside the combo list, as ComfyUI validation does', async () => {
    const loader = {
      class_type: 'LoadImageSetFromFolderNode',
      inputs: { folder: '../output', resize_method: 'None' },
    };
    const answer = await firstPixel(loader);
    expect(answer).toMatchObject({
      status: 400,
      json: { error: { type: 'prompt_outputs_failed_validation' } },
    });
    expect(JSON.stringify(answer)).toContain('value_not_in_list');
  });
});
