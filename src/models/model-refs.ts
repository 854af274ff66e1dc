/**
 * Which model files a workflow needs: read from its loader nodes' file-name inputs. Pure: no HTTP, no store.
 * The built-in table covers ComfyUI's core loaders; an operator adds custom loaders with `--model-loaders`.
 */
import { MODEL_KINDS, type ModelKind, type ModelRef, type Workflow } from '../jobs/types.js';

export { MODEL_KINDS, type ModelKind, type ModelRef };

/** A loader input that names a model file: `class_type.input` → kind. */
export interface LoaderInput {
  classType: string;
  input: string;
  kind: ModelKind;
}

const CORE: ReadonlyArray<[string, string, ModelKind]> = [
  ['CheckpointLoaderSimple', 'ckpt_name', 'checkpoint'],
  ['CheckpointLoader', 'ckpt_name', 'checkpoint'],
  ['ImageOnlyCheckpointLoader', 'ckpt_name', 'checkpoint'],
  ['unCLIPCheckpointLoader', 'ckpt_name', 'checkpoint'],
  ['UNETLoader', 'unet_name', 'unet'],
  ['CLIPLoader', 'clip_name', 'clip'],
  ['DualCLIPLoader', 'clip_name1', 'clip'],
  ['DualCLIPLoader', 'clip_name2', 'clip'],
  ['TripleCLIPLoader', 'clip_name1', 'clip'],
  ['TripleCLIPLoader', 'clip_name2', 'clip'],
  ['TripleCLIPLoader', 'clip_name3', 'clip'],
  ['VAELoader', 'vae_name', 'vae'],
  ['LoraLoader', 'lora_name', 'lora'],
  ['LoraLoaderModelOnly', 'lora_name', 'lora'],
  ['ControlNetLoader', 'control_net_name', 'controlnet'],
  ['DiffControlNetLoader', 'control_net_name', 'controlnet'],
  ['UpscaleModelLoader', 'model_name', 'upscale'],
];

/** ComfyUI's core loader inputs. */
export const CORE_LOADERS: readonly LoaderInput[] = CORE.map(([classType, input, kind]) => ({
  classType,
  input,
  kind,
}));

/** The folder under ComfyUI's `models/` each kind lives in (ComfyUI's current names; it also reads the legacy ones). */
export const KIND_FOLDERS: Readonly<Record<ModelKind, string>> = {
  checkpoint: 'checkpoints',
  lora: 'loras',
  vae: 'vae',
  clip: 'text_encoders',
  unet: 'diffusion_models',
  controlnet: 'controlnet',
  upscale: 'upscale_models',
  other: 'other',
};

/**
 * Parses `--model-loaders` text: `Class.input=kind` entries separated by commas
 * (e.g. `IPAdapterModelLoader.ipadapter_file=other`). Throws with the bad entry named.
 */
export function parseLoaderList(text: string): LoaderInput[] {
  const out: LoaderInput[] = [];
  for (const raw of text.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const m = /^([A-Za-z0-9_+-]+)\.([A-Za-z0-9_]+)=([a-z]+)$/.exec(entry);
    const kind = m?.[3];
    if (m === null || kind === undefined || !(MODEL_KINDS as readonly string[]).includes(kind)) {
      throw new Error(`"${entry}" is not Class.input=kind with kind one of ${MODEL_KINDS.join('|')}`);
    }
    out.push({ classType: m[1] ?? '', input: m[2] ?? '', kind: kind as ModelKind });
  }
  return out;
}

/** Indexes loader inputs by class type. */
export function loaderIndex(loaders: readonly LoaderInput[]): ReadonlyMap<string, LoaderInput[]> {
  const index = new Map<string, LoaderInput[]>();
  for (const l of loaders) index.set(l.classType, [...(index.get(l.classType) ?? []), l]);
  return index;
}

/** Node ids in numeric-aware order ("2" before "10"); one collator, not one per comparison. */
const NODE_ID_ORDER = new Intl.Collator('en', { numeric: true });

/**
 * The model files `workflow` loads, each once, in node-id order. Inputs wired from another node (a link, not a
 * literal file name) cannot be known before the run and are skipped.
 */
export function modelRefs(workflow: Workflow, loaders: ReadonlyMap<string, LoaderInput[]>): ModelRef[] {
  const seen = new Set<string>();
  const out: ModelRef[] = [];
  // Only loader nodes are sorted: most workflows have few, and a per-request sort of every node showed in profiles.
  const ids = Object.keys(workflow)
    .filter((id) => loaders.has(workflow[id]?.class_type ?? ''))
    .sort(NODE_ID_ORDER.compare);
  for (const id of ids) {
    const node = workflow[id];
    for (const l of (node === undefined ? undefined : loaders.get(node.class_type)) ?? []) {
      const name = node?.inputs[l.input];
      if (typeof name !== 'string' || name === '') continue;
      const key = `${l.kind}\0${name}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ kind: l.kind, name });
    }
  }
  return out;
}

/**
 * The model a job's placement and the fleet's plan are about: its base model (the first checkpoint or
 * diffusion model, the file whose load dominates), else its first file; null for a job that names none.
 * Migration 011 computes the same in SQL for the jobs table's base-model columns.
 */
export function baseModel(refs: readonly ModelRef[]): ModelRef | null {
  return refs.find((r) => r.kind === 'checkpoint' || r.kind === 'unet') ?? refs[0] ?? null;
}
