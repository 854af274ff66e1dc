/**
 * The agent's view of the models resident in its ComfyUI. ComfyUI keeps the node outputs of its most recent
 * prompts (the last one by default, up to N with `--cache-lru N`), and with them the models their loaders
 * produced; so the agent tracks the model files of its last `capacity` distinct jobs, most recent first.
 * Counts every load (a job that needed a file not resident) and its tier.
 */
import type { ModelRef } from './model-refs.js';

/** Where a job's files came from: all resident, all on the worker's disk, or at least one fetched. */
export type LoadTier = 'vram' | 'disk' | 'fetch';

export class WarmSet {
  /** Most recent first; each entry the file names one job loaded. */
  private groups: string[][] = [];
  private loadCount = 0;

  constructor(private readonly capacity: number) {}

  /** Names resident now. */
  names(): string[] {
    return [...new Set(this.groups.flat())].sort();
  }

  /** True when every file is resident. */
  holds(refs: readonly ModelRef[]): boolean {
    const warm = new Set(this.groups.flat());
    return refs.every((r) => warm.has(r.name));
  }

  /** Records that a job with these files ran; returns whether it had to load something. */
  ran(refs: readonly ModelRef[]): boolean {
    if (refs.length === 0) return false;
    const loaded = !this.holds(refs);
    if (loaded) this.loadCount++;
    const key = refs.map((r) => r.name).sort();
    const same = (g: string[]): boolean => g.length === key.length && g.every((n, i) => n === key[i]);
    this.groups = [key, ...this.groups.filter((g) => !same(g))].slice(0, Math.max(1, this.capacity));
    return loaded;
  }

  /**
   * A prompt that loads other files started while the set is full (a fleet preload): ComfyUI drops the least
   * recent group to make room (its classic cache drops every loader the prompt does not use), so it is no longer
   * counted resident. Not a load: the prompt's own files are counted by `ran` if it completes.
   */
  displaced(): void {
    if (this.groups.length >= Math.max(1, this.capacity)) this.groups = this.groups.slice(0, -1);
  }

  /** Model loads after the first (a worker's first load is its cold start, not a switch). */
  get switches(): number {
    return Math.max(0, this.loadCount - 1);
  }
}
