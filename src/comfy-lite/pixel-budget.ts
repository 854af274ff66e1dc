/**
 * comfy-lite keeps images as float32 RGB (12 bytes a pixel), so ComfyUI's own input maxima are far beyond what
 * one process can hold: `EmptyImage` 16384×16384 is 3.2 GB a frame. Nodes that create or enlarge images reserve
 * their output here first; a batch over the per-batch budget, or a prompt whose batches together pass the
 * per-prompt budget, fails that node with a ComfyUI-style execution error before anything is allocated.
 */
import { PyError } from './py-format.js';

/** Default per-batch budget: one 4096×4096 frame (or 16 of 1024×1024), 192 MiB as float32 RGB. */
export const DEFAULT_MAX_PIXELS = 4096 * 4096;
/** A prompt may hold this many full batches at once (node outputs stay alive until the prompt ends). */
export const PROMPT_BUDGET_BATCHES = 4;

const BYTES_PER_PIXEL = 12;

function mib(pixels: number): string {
  return `${Math.round((pixels * BYTES_PER_PIXEL) / 2 ** 20)} MiB`;
}

/** One prompt's running total against the per-batch and per-prompt budgets. */
export class PixelBudget {
  private used = 0;

  constructor(private readonly maxPixels: number = DEFAULT_MAX_PIXELS) {}

  /** Throws (ComfyUI's out-of-memory error type) unless a `batch`×`height`×`width` image fits; else books it. */
  reserve(classType: string, width: number, height: number, batch: number): void {
    const pixels = width * height * batch;
    const shape = `${batch}×${height}×${width}`;
    if (!Number.isFinite(pixels) || pixels > this.maxPixels) {
      throw new PyError(
        'torch.OutOfMemoryError',
        `${classType}: an image batch of ${shape} (${pixels} pixels, ${mib(pixels)}) exceeds comfy-lite's ` +
          `budget of ${this.maxPixels} pixels per batch (${mib(this.maxPixels)}; comfy-lite --max-pixels).`,
      );
    }
    const limit = this.maxPixels * PROMPT_BUDGET_BATCHES;
    if (this.used + pixels > limit) {
      throw new PyError(
        'torch.OutOfMemoryError',
        `${classType}: an image batch of ${shape} would bring this prompt to ${this.used + pixels} pixels, over ` +
          `comfy-lite's budget of ${limit} pixels per prompt (${PROMPT_BUDGET_BATCHES} × --max-pixels).`,
      );
    }
    this.used += pixels;
  }
}
