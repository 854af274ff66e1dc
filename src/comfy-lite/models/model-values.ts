/**
 * The MODEL, CLIP and VAE values loader nodes pass along. comfy-lite holds no weights: a value is a fingerprint of
 * the files it was built from (and the LoRA strengths applied), so a sampler's image depends on the model exactly
 * as the workflow wired it.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { PyError } from '../py-format.js';

export type ModelKind = 'MODEL' | 'CLIP' | 'VAE' | 'CONTROL_NET';

export interface ModelValue {
  kind: ModelKind;
  /** Hex digest of the files and patches this value stands for. */
  fingerprint: string;
  /** The model files it was built from, as `folder/name` (checkpoint first, then LoRAs in order). */
  files: string[];
  /** `str(value)` in error reports, as Python prints the object. */
  pyRepr: string;
}

const CLASS_NAMES: Record<ModelKind, string> = {
  MODEL: 'comfy.model_patcher.ModelPatcher',
  CLIP: 'comfy.sd.CLIP',
  VAE: 'comfy.sd.VAE',
  CONTROL_NET: 'comfy.controlnet.ControlNet',
};

/** A value built from a fingerprint (a stable fake address keeps error reports readable). */
export function modelValue(kind: ModelKind, fingerprint: string, files: string[]): ModelValue {
  return {
    kind,
    fingerprint,
    files,
    pyRepr: `<${CLASS_NAMES[kind]} object at 0x7f${fingerprint.slice(0, 10)}>`,
  };
}

/** True for a MODEL, CLIP, VAE or CONTROL_NET value. */
export function isModelValue(v: unknown): v is ModelValue {
  return (
    typeof v === 'object' &&
    v !== null &&
    'kind' in v &&
    'fingerprint' in v &&
    typeof v.fingerprint === 'string' &&
    (v.kind === 'MODEL' || v.kind === 'CLIP' || v.kind === 'VAE' || v.kind === 'CONTROL_NET')
  );
}

/** Narrows a node input to a value of the given kind, failing as Python would on anything else. */
export function asModel(v: unknown, kind: ModelKind, attribute: string): ModelValue {
  if (isModelValue(v) && v.kind === kind) return v;
  const type = v === null || v === undefined ? 'NoneType' : isModelValue(v) ? CLASS_NAMES[v.kind] : typeof v;
  throw new PyError('AttributeError', `'${type.split('.').at(-1)}' object has no attribute '${attribute}'`);
}

/** How many leading bytes of a model file go into its fingerprint (model files can be gigabytes). */
const HEAD_BYTES = 64 * 1024;

/** A file's identity: its folder and name, its size and its first bytes. */
export async function fileFingerprint(folder: string, name: string, path: string): Promise<string> {
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    const head = Buffer.alloc(Math.min(size, HEAD_BYTES));
    await file.read(head, 0, head.length, 0);
    return createHash('sha256').update(`${folder}/${name}\0${size}\0`).update(head).digest('hex');
  } finally {
    await file.close();
  }
}

/** The fingerprint of values combined (a LoRA applied to a model, with its strength). */
export function combine(...parts: Array<string | number>): string {
  return createHash('sha256').update(parts.map(String).join('\0')).digest('hex');
}
