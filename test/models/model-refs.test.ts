import { describe, expect, it } from 'vitest';
import { availableModels } from '../../src/models/object-info-models.js';
import { CORE_LOADERS, loaderIndex, modelRefs, parseLoaderList } from '../../src/models/model-refs.js';

describe('model references from loader nodes', () => {
  it('reads every core loader, once per file, skipping linked inputs', () => {
    const wf = {
      '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'sd15.safetensors' } },
      '2': { class_type: 'LoraLoader', inputs: { lora_name: 'ink.safetensors', model: ['1', 0] } },
      '3': {
        class_type: 'DualCLIPLoader',
        inputs: { clip_name1: 'l.safetensors', clip_name2: 'g.safetensors' },
      },
      '4': { class_type: 'VAELoader', inputs: { vae_name: 'ft.safetensors' } },
      '5': { class_type: 'UNETLoader', inputs: { unet_name: 'flux.sft' } },
      '6': { class_type: 'ControlNetLoader', inputs: { control_net_name: 'canny.pth' } },
      '7': { class_type: 'UpscaleModelLoader', inputs: { model_name: '4x.pth' } },
      '8': { class_type: 'LoraLoaderModelOnly', inputs: { lora_name: ['9', 0] } },
      '10': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'sd15.safetensors' } },
    };
    expect(modelRefs(wf, loaderIndex(CORE_LOADERS))).toEqual([
      { kind: 'checkpoint', name: 'sd15.safetensors' },
      { kind: 'lora', name: 'ink.safetensors' },
      { kind: 'clip', name: 'l.safetensors' },
      { kind: 'clip', name: 'g.safetensors' },
      { kind: 'vae', name: 'ft.safetensors' },
      { kind: 'unet', name: 'flux.sft' },
      { kind: 'controlnet', name: 'canny.pth' },
      { kind: 'upscale', name: '4x.pth' },
    ]);
  });

  it('an operator-added loader counts; a bad entry is refused by name', () => {
    const extra = parseLoaderList('IPAdapterModelLoader.ipadapter_file=other');
    const wf = { '1': { class_type: 'IPAdapterModelLoader', inputs: { ipadapter_file: 'ip.bin' } } };
    expect(modelRefs(wf, loaderIndex(CORE_LOADERS))).toEqual([]);
    expect(modelRefs(wf, loaderIndex([...CORE_LOADERS, ...extra]))).toEqual([
      { kind: 'other', name: 'ip.bin' },
    ]);
    expect(() => parseLoaderList('Foo.bar=weights')).toThrow(/Foo.bar=weights/);
  });

  it('object_info loader combos list the files, not virtual choices', () => {
    const info = {
      CheckpointLoaderSimple: { input: { required: { ckpt_name: [['a.safetensors', 'sd/b.ckpt'], {}] } } },
      VAELoader: { input: { required: { vae_name: [['pixel_space', 'v.safetensors']] } } },
      SaveImage: { input: { required: { images: ['IMAGE'] } } },
    };
    expect(availableModels(info, CORE_LOADERS)).toEqual(['a.safetensors', 'sd/b.ckpt', 'v.safetensors']);
  });
});
