/**
 * `GET /object_info` entries of ComfyUI's loader nodes (nodes.py, v0.3.65: the same inputs, tooltips, outputs,
 * categories and display names; keys in the order ComfyUI's `node_info` writes them), built from the current file
 * lists, plus comfy-lite's own ArrakisSample.
 */
import type { ObjectInfo } from './object-info.js';

/** Lists a loader offers, by ComfyUI folder name (`folder_paths.get_filename_list`). */
export type FileLists = (folder: string) => string[];

const loader = (
  name: string,
  displayName: string,
  input: ObjectInfo['input'],
  output: string[],
  extra: { description?: string; category?: string; output_tooltips?: string[] } = {},
): ObjectInfo => {
  const inputOrder: ObjectInfo['input_order'] = { required: Object.keys(input.required) };
  if (input.optional !== undefined) inputOrder.optional = Object.keys(input.optional);
  return {
    input,
    input_order: inputOrder,
    output,
    output_is_list: output.map(() => false),
    output_name: output,
    name,
    display_name: displayName,
    description: extra.description ?? '',
    python_module: 'nodes',
    category: extra.category ?? 'loaders',
    output_node: false,
    ...(extra.output_tooltips === undefined ? {} : { output_tooltips: extra.output_tooltips }),
  };
};

export const checkpointLoaderSimpleInfo = (files: FileLists): ObjectInfo =>
  loader(
    'CheckpointLoaderSimple',
    'Load Checkpoint',
    {
      required: {
        ckpt_name: [files('checkpoints'), { tooltip: 'The name of the checkpoint (model) to load.' }],
      },
    },
    ['MODEL', 'CLIP', 'VAE'],
    {
      description: 'Loads a diffusion model checkpoint, diffusion models are used to denoise latents.',
      output_tooltips: [
        'The model used for denoising latents.',
        'The CLIP model used for encoding text prompts.',
        'The VAE model used for encoding and decoding images to and from latent space.',
      ],
    },
  );

const LORA_DESCRIPTION =
  'LoRAs are used to modify diffusion and CLIP models, altering the way in which latents are denoised such as applying styles. Multiple LoRA nodes can be linked together.';
const LORA_TOOLTIPS = ['The modified diffusion model.', 'The modified CLIP model.'];

export const loraLoaderInfo = (files: FileLists): ObjectInfo =>
  loader(
    'LoraLoader',
    'Load LoRA',
    {
      required: {
        model: ['MODEL', { tooltip: 'The diffusion model the LoRA will be applied to.' }],
        clip: ['CLIP', { tooltip: 'The CLIP model the LoRA will be applied to.' }],
        lora_name: [files('loras'), { tooltip: 'The name of the LoRA.' }],
        strength_model: [
          'FLOAT',
          {
            default: 1.0,
            min: -100.0,
            max: 100.0,
            step: 0.01,
            tooltip: 'How strongly to modify the diffusion model. This value can be negative.',
          },
        ],
        strength_clip: [
          'FLOAT',
          {
            default: 1.0,
            min: -100.0,
            max: 100.0,
            step: 0.01,
            tooltip: 'How strongly to modify the CLIP model. This value can be negative.',
          },
        ],
      },
    },
    ['MODEL', 'CLIP'],
    { description: LORA_DESCRIPTION, output_tooltips: LORA_TOOLTIPS },
  );

/** A subclass of LoraLoader in ComfyUI: it inherits the description and both output tooltips. */
export const loraLoaderModelOnlyInfo = (files: FileLists): ObjectInfo =>
  loader(
    'LoraLoaderModelOnly',
    'LoraLoaderModelOnly',
    {
      required: {
        model: ['MODEL'],
        lora_name: [files('loras')],
        strength_model: ['FLOAT', { default: 1.0, min: -100.0, max: 100.0, step: 0.01 }],
      },
    },
    ['MODEL'],
    { description: LORA_DESCRIPTION, output_tooltips: LORA_TOOLTIPS },
  );

/** `VAELoader.vae_list`: the vae files, the TAESD decoders present in vae_approx as pairs, then `pixel_space`. */
export function vaeList(files: FileLists): string[] {
  const vaes = files('vae');
  const approx = files('vae_approx');
  const has = (prefix: string): boolean => approx.some((v) => v.startsWith(prefix));
  for (const name of ['taesd', 'taesdxl', 'taesd3']) {
    if (has(`${name}_decoder.`) && has(`${name}_encoder.`)) vaes.push(name);
  }
  // ComfyUI checks taef1's encoder and decoder under swapped flags; both are needed either way.
  if (has('taef1_decoder.') && has('taef1_encoder.')) vaes.push('taef1');
  vaes.push('pixel_space');
  return vaes;
}

export const vaeLoaderInfo = (files: FileLists): ObjectInfo =>
  loader('VAELoader', 'Load VAE', { required: { vae_name: [vaeList(files)] } }, ['VAE']);

export const unetLoaderInfo = (files: FileLists): ObjectInfo =>
  loader(
    'UNETLoader',
    'Load Diffusion Model',
    {
      required: {
        unet_name: [files('diffusion_models')],
        weight_dtype: [['default', 'fp8_e4m3fn', 'fp8_e4m3fn_fast', 'fp8_e5m2']],
      },
    },
    ['MODEL'],
    { category: 'advanced/loaders' },
  );

const CLIP_TYPES = [
  'stable_diffusion',
  'stable_cascade',
  'sd3',
  'stable_audio',
  'mochi',
  'ltxv',
  'pixart',
  'cosmos',
  'lumina2',
  'wan',
  'hidream',
  'chroma',
  'ace',
  'omnigen2',
  'qwen_image',
  'hunyuan_image',
];

export const clipLoaderInfo = (files: FileLists): ObjectInfo =>
  loader(
    'CLIPLoader',
    'Load CLIP',
    {
      required: { clip_name: [files('text_encoders')], type: [CLIP_TYPES] },
      optional: { device: [['default', 'cpu'], { advanced: true }] },
    },
    ['CLIP'],
    {
      category: 'advanced/loaders',
      description:
        '[Recipes]\n\nstable_diffusion: clip-l\nstable_cascade: clip-g\nsd3: t5 xxl/ clip-g / clip-l\nstable_audio: t5 base\nmochi: t5 xxl\ncosmos: old t5 xxl\nlumina2: gemma 2 2B\nwan: umt5 xxl\n hidream: llama-3.1 (Recommend) or t5\nomnigen2: qwen vl 2.5 3B',
    },
  );

export const controlNetLoaderInfo = (files: FileLists): ObjectInfo =>
  loader(
    'ControlNetLoader',
    'Load ControlNet Model',
    { required: { control_net_name: [files('controlnet')] } },
    ['CONTROL_NET'],
  );

/** Widest image ArrakisSample makes (comfy-lite keeps images in memory as float32). */
export const SAMPLE_MAX_SIZE = 4096;

export const arrakisSampleInfo: ObjectInfo = {
  input: {
    required: {
      model: [
        'MODEL',
        { tooltip: 'The model to sample with (its files decide the picture, with the seed).' },
      ],
      width: ['INT', { default: 512, min: 16, max: SAMPLE_MAX_SIZE, step: 8 }],
      height: ['INT', { default: 512, min: 16, max: SAMPLE_MAX_SIZE, step: 8 }],
      steps: ['INT', { default: 20, min: 1, max: 10000 }],
      seconds_per_step: ['FLOAT', { default: 0.05, min: 0.0, max: 3600.0, step: 0.001 }],
      seed: ['INT', { default: 0, min: 0, max: 0xffffffffffffffff, control_after_generate: true }],
    },
  },
  input_order: { required: ['model', 'width', 'height', 'steps', 'seconds_per_step', 'seed'] },
  output: ['IMAGE'],
  output_is_list: [false],
  output_name: ['IMAGE'],
  name: 'ArrakisSample',
  display_name: 'Arrakis Sample',
  description:
    'A stand-in for KSampler and VAEDecode: waits seconds_per_step per step with progress and interrupt checks, then returns a picture decided by the model and the seed.',
  python_module: 'custom_nodes.arrakis',
  category: 'arrakis',
  output_node: false,
};
