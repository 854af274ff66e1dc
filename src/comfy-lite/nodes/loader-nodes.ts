/**
 * ComfyUI's loader nodes over comfy-lite's `models/` folders. A loader that runs "loads" its file: it waits the
 * configured load time, then fingerprints the file. Whether a model stays loaded is decided only by the node
 * output cache, as in ComfyUI: a prompt whose loader output is cached does not run the loader, so it pays nothing.
 * LoraLoader also keeps its last LoRA file in its node object (ComfyUI's `self.loaded_lora`), so a LoRA node that
 * re-runs on a new model does not read the same LoRA file again.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import { asModel, combine, fileFingerprint, modelValue, type ModelValue } from '../models/model-values.js';
import type { ModelFolders } from '../models/model-folders.js';
import { PyError } from '../py-format.js';
import {
  checkpointLoaderSimpleInfo,
  clipLoaderInfo,
  controlNetLoaderInfo,
  loraLoaderInfo,
  loraLoaderModelOnlyInfo,
  unetLoaderInfo,
  vaeLoaderInfo,
} from './model-object-info.js';
import { num, str, type NodeContext, type NodeDef } from './types.js';

/** One file load, as reported to the server's `load` event. */
export interface ModelLoad {
  folder: string;
  name: string;
  ms: number;
}

export interface LoaderOptions {
  folders: ModelFolders;
  /** The time one file load takes. */
  loadMs: number;
  onLoad?(load: ModelLoad): void;
}

/** `get_full_path_or_raise`, the load time, then the file's fingerprint. */
async function loadFile(o: LoaderOptions, folder: string, name: string): Promise<string> {
  const path = await o.folders.fullPath(folder, name);
  if (path === null) {
    throw new PyError('FileNotFoundError', `Model in folder '${folder}' with filename '${name}' not found.`);
  }
  const started = performance.now();
  // Reading weights is not interruptible in ComfyUI either: an interrupt lands at the next node.
  if (o.loadMs > 0) await delay(o.loadMs);
  const fingerprint = await fileFingerprint(folder, name, path);
  o.onLoad?.({ folder, name, ms: performance.now() - started });
  return fingerprint;
}

/** `load_lora_for_models`: the patched model and clip (a zero strength leaves that one unchanged). */
async function applyLora(
  o: LoaderOptions,
  ctx: NodeContext,
  inputs: Record<string, unknown>,
  clip: ModelValue | null,
): Promise<[ModelValue, ModelValue | null]> {
  const model = asModel(inputs.model, 'MODEL', 'clone');
  const [strengthModel, strengthClip] = [
    num(inputs, 'strength_model'),
    clip === null ? 0 : num(inputs, 'strength_clip'),
  ];
  if (strengthModel === 0 && strengthClip === 0) return [model, clip];
  const name = str(inputs, 'lora_name');
  const path = await o.folders.fullPath('loras', name);
  const held = ctx.object.loaded_lora;
  let lora: string;
  if (Array.isArray(held) && held[0] === path && typeof held[1] === 'string') lora = held[1];
  else {
    lora = await loadFile(o, 'loras', name);
    ctx.object.loaded_lora = [path, lora];
  }
  const patch = (v: ModelValue, strength: number): ModelValue =>
    modelValue(v.kind, strength === 0 ? v.fingerprint : combine(v.fingerprint, lora, strength), [
      ...v.files,
      `loras/${name}`,
    ]);
  return [patch(model, strengthModel), clip === null ? null : patch(clip, strengthClip)];
}

type NodeRun = NodeDef['run'];

/** UNETLoader, CLIPLoader, ControlNetLoader: one file whose value also depends on the `extra` inputs. */
function singleFileLoader(
  o: LoaderOptions,
  kind: 'MODEL' | 'CLIP' | 'CONTROL_NET',
  folder: string,
  input: string,
  extra: string[],
): NodeRun {
  return async (inputs: Record<string, unknown>) => {
    const name = str(inputs, input);
    const fp = await loadFile(o, folder, name);
    const variant = extra.map((n) => str(inputs, n));
    return { result: [modelValue(kind, combine(kind, fp, ...variant), [`${folder}/${name}`])] };
  };
}

/** CheckpointLoaderSimple: one file, three outputs (MODEL, CLIP, VAE). */
function checkpointLoader(o: LoaderOptions): NodeRun {
  return async (inputs: Record<string, unknown>) => {
    const name = str(inputs, 'ckpt_name');
    const fp = await loadFile(o, 'checkpoints', name);
    const list = [`checkpoints/${name}`];
    return { result: (['MODEL', 'CLIP', 'VAE'] as const).map((k) => modelValue(k, combine(k, fp), list)) };
  };
}

/** VAELoader: `pixel_space` loads nothing; a TAESD name loads its encoder and decoder from vae_approx/. */
function vaeLoader(o: LoaderOptions): NodeRun {
  return async (inputs: Record<string, unknown>) => {
    const name = str(inputs, 'vae_name');
    if (name === 'pixel_space') return { result: [modelValue('VAE', combine('VAE', name), [])] };
    const taesd = ['taesd', 'taesdxl', 'taesd3', 'taef1'].includes(name);
    const parts = taesd
      ? ['encoder', 'decoder'].map((part) =>
          o.folders.list('vae_approx').find((v) => v.startsWith(`${name}_${part}.`)),
        )
      : [name];
    const folder = taesd ? 'vae_approx' : 'vae';
    const fps = [];
    for (const part of parts) {
      if (part === undefined) throw new PyError('StopIteration', '');
      fps.push(await loadFile(o, folder, part));
    }
    const files = parts.map((p) => `${folder}/${p}`);
    return { result: [modelValue('VAE', combine('VAE', ...fps), files)] };
  };
}

/** The loader nodes by ComfyUI class name. */
export function loaderNodes(o: LoaderOptions): Record<string, NodeDef> {
  const files = (folder: string): string[] => o.folders.list(folder);
  const nodes: Record<string, NodeDef & { folders: string[] }> = {
    CheckpointLoaderSimple: {
      folders: ['checkpoints'],
      info: () => checkpointLoaderSimpleInfo(files),
      run: checkpointLoader(o),
    },
    LoraLoader: {
      folders: ['loras'],
      info: () => loraLoaderInfo(files),
      run: async (inputs, ctx) => ({
        result: await applyLora(o, ctx, inputs, asModel(inputs.clip, 'CLIP', 'clone')),
      }),
    },
    LoraLoaderModelOnly: {
      folders: ['loras'],
      info: () => loraLoaderModelOnlyInfo(files),
      run: async (inputs, ctx) => ({ result: [(await applyLora(o, ctx, inputs, null))[0]] }),
    },
    VAELoader: {
      folders: ['vae', 'vae_approx'],
      info: () => vaeLoaderInfo(files),
      run: vaeLoader(o),
    },
    UNETLoader: {
      folders: ['diffusion_models'],
      info: () => unetLoaderInfo(files),
      run: singleFileLoader(o, 'MODEL', 'diffusion_models', 'unet_name', ['weight_dtype']),
    },
    CLIPLoader: {
      folders: ['text_encoders'],
      info: () => clipLoaderInfo(files),
      run: singleFileLoader(o, 'CLIP', 'text_encoders', 'clip_name', ['type']),
    },
    ControlNetLoader: {
      folders: ['controlnet'],
      info: () => controlNetLoaderInfo(files),
      run: singleFileLoader(o, 'CONTROL_NET', 'controlnet', 'control_net_name', []),
    },
  };
  return Object.fromEntries(
    Object.entries(nodes).map(([name, { folders, ...def }]) => [
      name,
      { ...def, prepare: () => o.folders.refresh(folders) },
    ]),
  );
}
