/** Which node inputs name files, and the rule each follows (src/comfy/file-inputs.ts). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkFileInputs,
  fileInputCatalog,
  fileInputRule,
  mergeCatalogs,
  modelNameProblem,
  type FileInputContext,
} from '../../src/comfy/file-inputs.js';
import { createComfyServer } from '../../src/comfy/http-client.js';
import { startComfyLite, type ComfyLiteServer } from '../../src/comfy-lite/server.js';
import type { Workflow } from '../../src/jobs/types.js';
import { capture } from './captures.js';

const none: FileInputContext = { jobInputs: new Set(['photo']), catalog: null, allowlist: new Set() };

describe('file inputs found in /object_info', () => {
  let lite: ComfyLiteServer;
  beforeAll(async () => {
    lite = await startComfyLite({ port: 0 });
  });
  afterAll(async () => {
    await lite.close();
  });

  it('marks the loaders comfy-lite serves (upload flags, output picker, folder combo) and nothing else', async () => {
    const client = createComfyServer(lite.url);
    try {
      const { fileInputs } = await client.nodeCatalog();
      expect(fileInputs.get('LoadImage')).toEqual(new Map([['image', expect.any(Array)]]));
      expect([...(fileInputs.get('LoadImageOutput')?.keys() ?? [])]).toEqual(['image']);
      expect([...(fileInputs.get('LoadImageSetFromFolderNode')?.keys() ?? [])]).toEqual(['folder']);
      for (const plain of ['EmptyImage', 'ImageScale', 'SaveImage', 'ImageInvert', 'ArrakisDelay']) {
        expect(fileInputs.get(plain)?.size).toBe(0);
      }
    } finally {
      await client.close();
    }
  });

  it('reads the real ComfyUI capture: LoadImage image is a file input, ImageScale enums are not', () => {
    const catalog = fileInputCatalog(capture('object_info-subset.json') as Record<string, unknown>);
    expect(catalog.get('LoadImage')?.get('image')).toEqual(['example.png']);
    expect(catalog.get('ImageScale')?.size).toBe(0);
    expect(catalog.get('SaveImage')?.has('filename_prefix')).toBe(false);
  });

  it('recognises v3 combos, combo lists of files and file-like string names of unknown nodes', () => {
    const catalog = fileInputCatalog({
      VideoThing: { input: { required: { clip: ['COMBO', { options: ['a.mp4'], video_upload: true }] } } },
      ModelThing: { input: { required: { weights: [['sd15.safetensors', 'xl/base.ckpt']] } } },
      PathThing: {
        input: { optional: { model_path: ['STRING', {}], target_dir: ['STRING'], text: ['STRING'] } },
      },
      Enums: { input: { required: { mode: [['fast', 'slow']], image: ['IMAGE'] } } },
      Broken: 'not an entry',
    });
    expect(catalog.get('VideoThing')?.get('clip')).toEqual(['a.mp4']);
    expect(catalog.get('ModelThing')?.get('weights')).toEqual(['sd15.safetensors', 'xl/base.ckpt']);
    expect([...(catalog.get('PathThing')?.keys() ?? [])]).toEqual(['model_path', 'target_dir']);
    expect(catalog.get('Enums')?.size).toBe(0);
    expect(catalog.has('Broken')).toBe(false);
  });

  it('merges several workers: union of inputs and of model lists', () => {
    const a = new Map([['CheckpointLoaderSimple', new Map([['ckpt_name', ['a.safetensors']]])]]);
    const b = new Map([['CheckpointLoaderSimple', new Map([['ckpt_name', ['b.safetensors']]])]]);
    expect(mergeCatalogs([a, b]).get('CheckpointLoaderSimple')?.get('ckpt_name')).toEqual([
      'a.safetensors',
      'b.safetensors',
    ]);
  });
});

describe('fileInputRule', () => {
  it('follows the table, then /object_info, then the input name', () => {
    expect(fileInputRule('LoadImage', 'image', null)).toBe('job_input');
    expect(fileInputRule('LoadImageOutput', 'image', null)).toBe('refuse');
    expect(fileInputRule('LoadImageSetFromFolderNode', 'folder', null)).toBe('refuse');
    expect(fileInputRule('LoadAudio', 'audio', null)).toBe('refuse');
    expect(fileInputRule('Load3D', 'model_file', null)).toBe('refuse');
    expect(fileInputRule('CheckpointLoaderSimple', 'ckpt_name', null)).toBe('model');
    expect(fileInputRule('DualCLIPLoader', 'clip_name2', null)).toBe('model');
    const catalog = new Map([['CustomLoader', new Map([['weights', null]])]]);
    expect(fileInputRule('CustomLoader', 'weights', catalog)).toBe('refuse');
    expect(fileInputRule('CustomLoader', 'strength', catalog)).toBeNull();
    // No worker described the node: its input names decide.
    for (const name of [
      'folder',
      'path',
      'file',
      'filename',
      'directory',
      'video_path',
      'cache_dir',
      'folder_name',
    ]) {
      expect(fileInputRule('Unknown', name, null)).toBe('refuse');
    }
    for (const name of ['filename_prefix', 'image', 'text', 'seed', 'profile']) {
      expect(fileInputRule('Unknown', name, null)).toBeNull();
    }
  });

  it('never takes a rule from Object.prototype for a node class named like one of its keys', () => {
    const catalog = new Map([['constructor', new Map([['name', null]])]]);
    expect(fileInputRule('constructor', 'name', catalog)).toBe('refuse');
    expect(fileInputRule('hasOwnProperty', 'length', null)).toBeNull();
    expect(fileInputRule('__proto__', 'constructor', null)).toBeNull();
  });
});

describe('modelNameProblem', () => {
  it('accepts plain file names only', () => {
    expect(modelNameProblem('v1-5-pruned-emaonly.safetensors')).toBeNull();
    expect(modelNameProblem('model v2 (fp16).ckpt')).toBeNull();
    for (const bad of [
      'x.safetensors [output]',
      'x.safetensors[input]',
      'x [temp]',
      'sdxl/base.safetensors',
      'sdxl\\base.safetensors',
      '../../output/arrakis/job_x/a.png',
      '..',
      '/etc/passwd',
      'C:model.ckpt',
      'a\u0000b.ckpt',
      '',
      7,
      ['1', 0],
      { __value__: 'x.ckpt' },
    ]) {
      expect(modelNameProblem(bad), JSON.stringify(bad)).not.toBeNull();
    }
  });
});

describe('checkFileInputs', () => {
  const attack = (loader: Record<string, unknown>): Workflow => ({
    '7': loader as Workflow[string],
    '8': { class_type: 'SaveImage', inputs: { images: ['7', 0], filename_prefix: 'x' } },
  });

  it('refuses LoadImageOutput, folder loaders and other file readers, naming node and input', () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ class_type: 'LoadImageOutput', inputs: { image: 'arrakis/job_a/x_00001_.png [output]' } }, 'image'],
      [{ class_type: 'LoadImageOutput', inputs: { image: 'photo' } }, 'image'],
      [
        {
          class_type: 'LoadImageSetFromFolderNode',
          inputs: { folder: 'arrakis/job_a', resize_method: 'None' },
        },
        'folder',
      ],
      [{ class_type: 'LoadAudio', inputs: { audio: 'a.wav' } }, 'audio'],
      [{ class_type: 'LoadLatent', inputs: { latent: 'x.latent' } }, 'latent'],
      [{ class_type: 'SomeCustomNode', inputs: { video_path: '/data/x.mp4' } }, 'video_path'],
      [{ class_type: 'SomeCustomNode', inputs: { folder: ['9', 0] } }, 'folder'],
    ];
    for (const [loader, input] of cases) {
      expect(checkFileInputs(attack(loader), none), JSON.stringify(loader)).toEqual([
        { nodeId: '7', input, message: expect.stringContaining(`input "${input}"`) },
      ]);
    }
  });

  it('LoadImage and LoadImageMask must name a job input: annotations, paths and links are refused', () => {
    for (const image of [
      'x.png [output]',
      '../input/arrakis/job_a/p.png',
      '/etc/x.png',
      ['9', 0],
      { __value__: 'photo' },
    ]) {
      expect(checkFileInputs(attack({ class_type: 'LoadImage', inputs: { image } }), none)).toHaveLength(1);
      expect(
        checkFileInputs(attack({ class_type: 'LoadImageMask', inputs: { image, channel: 'alpha' } }), none),
      ).toHaveLength(1);
    }
    expect(checkFileInputs(attack({ class_type: 'LoadImage', inputs: { image: 'photo' } }), none)).toEqual(
      [],
    );
  });

  it('model loaders take plain names, from the workers list when it is known', () => {
    const loader = (ckpt: unknown): Workflow => ({
      '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: ckpt } },
    });
    expect(checkFileInputs(loader('sd15.safetensors'), none)).toEqual([]);
    expect(checkFileInputs(loader('../../output/arrakis/job_a/x.png'), none)[0]?.message).toContain(
      'path separator',
    );
    expect(checkFileInputs(loader('x.safetensors [output]'), none)[0]?.message).toContain('annotation');
    const catalog = new Map([['CheckpointLoaderSimple', new Map([['ckpt_name', ['sd15.safetensors']]])]]);
    const known = { ...none, catalog };
    expect(checkFileInputs(loader('sd15.safetensors'), known)).toEqual([]);
    expect(checkFileInputs(loader('other.safetensors'), known)[0]?.message).toContain(
      'no worker has the model',
    );
  });

  it('an allowlisted node type passes unchecked, but LoadImage still reads only job inputs', () => {
    const allowlist = new Set(['LoadImageOutput', 'LoadImage', 'CheckpointLoaderSimple']);
    const ctx = { ...none, allowlist };
    expect(
      checkFileInputs(attack({ class_type: 'LoadImageOutput', inputs: { image: 'a.png [output]' } }), ctx),
    ).toEqual([]);
    const ckpt: Workflow = {
      '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'sdxl/base.safetensors' } },
    };
    expect(checkFileInputs(ckpt, ctx)).toEqual([]);
    expect(
      checkFileInputs(attack({ class_type: 'LoadImage', inputs: { image: 'a.png [output]' } }), ctx),
    ).toHaveLength(1);
  });
});
