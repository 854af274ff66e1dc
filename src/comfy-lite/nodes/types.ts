/** What a comfy-lite node is: its object_info entry, optional validation hooks, and its function. */
import type { DataDirs } from '../paths.js';
import type { ObjectInfo } from './object-info.js';

export interface NodeContext {
  nodeId: string;
  promptId: string;
  /** The hidden PROMPT input (the prompt as validated). */
  prompt: Record<string, unknown>;
  /** The hidden EXTRA_PNGINFO input (`extra_data.extra_pnginfo`). */
  extraPngInfo: unknown;
  dirs: DataDirs;
  /** ComfyUI's progress hook: throws when the prompt was interrupted, else reports (with an optional PNG preview). */
  progress(value: number, max: number, previewPng?: Buffer): void;
  /** Waits, rejecting at once when the prompt is interrupted. */
  sleep(ms: number): Promise<void>;
  /**
   * The node's own object: ComfyUI keeps one instance per node id and class for as long as prompts keep using that
   * id, so a node may remember things between runs (LoraLoader keeps its last LoRA file).
   */
  object: Record<string, unknown>;
}

export interface NodeResult {
  /** One value per output slot. */
  result: unknown[];
  /** What the UI gets (`executed.output` and history `outputs`), e.g. `{ images: [...] }`. */
  ui?: Record<string, unknown[]>;
}

export interface NodeDef {
  info(inputFiles: readonly string[]): ObjectInfo;
  /** Brings the file lists `info` shows up to date (ComfyUI's INPUT_TYPES lists folders each time it is read). */
  prepare?(): Promise<void>;
  /** ComfyUI's VALIDATE_INPUTS: takes over the named inputs (their bounds and lists are not checked). */
  validate?: {
    inputs: string[];
    check(inputs: Record<string, unknown>, dirs: DataDirs): Promise<true | string>;
  };
  /** ComfyUI's IS_CHANGED: its value joins the cache key. */
  isChanged?(inputs: Record<string, unknown>, dirs: DataDirs): Promise<string>;
  run(inputs: Record<string, unknown>, ctx: NodeContext): Promise<NodeResult>;
}

/** A node input as a number (validation already converted INT and FLOAT inputs). */
export function num(inputs: Record<string, unknown>, name: string): number {
  const v = inputs[name];
  return typeof v === 'number' ? v : Number(v);
}

/** A node input as a string. */
export function str(inputs: Record<string, unknown>, name: string): string {
  const v = inputs[name];
  return typeof v === 'string' ? v : String(v);
}
