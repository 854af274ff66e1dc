/**
 * The agent's view of how far a prompt has come. ComfyUI's `progress` frames count the steps of one node and
 * start over at every sampler; this adds the node's class and a fraction of the whole prompt: the weight of the
 * nodes done (cached ones included) plus the running node's share of its own steps, over the weight of every
 * node. A node weighs its `steps` input when it has a literal one (a sampler), else 1.
 */
import type { NodeEvent } from '../comfy/contract.js';
import type { JobProgress, Workflow } from '../jobs/types.js';

/** A sampler's literal step count; 1 for every other node (and for steps given by a link). */
function weightOf(node: Workflow[string]): number {
  const steps = node.inputs.steps;
  return typeof steps === 'number' && Number.isInteger(steps) && steps >= 1 ? steps : 1;
}

export class PromptProgress {
  private readonly weights = new Map<string, number>();
  private readonly total: number;
  private readonly done = new Set<string>();
  private current: string | null = null;
  private value = 0;
  private max = 1;
  private finished = false;

  constructor(private readonly workflow: Workflow) {
    let total = 0;
    for (const [id, node] of Object.entries(workflow)) {
      const w = weightOf(node);
      this.weights.set(id, w);
      total += w;
    }
    this.total = Math.max(1, total);
  }

  /** A node-level frame; returns the progress to relay, or null when it changes nothing (nothing cached). */
  node(e: NodeEvent): JobProgress | null {
    switch (e.kind) {
      case 'cached':
        if (e.nodes.length === 0) return null;
        for (const id of e.nodes) this.done.add(id);
        break;
      case 'executing':
        if (this.current !== null) this.done.add(this.current);
        if (e.node === null) {
          this.finished = true;
          this.current = null;
          this.value = this.max = 1;
        } else {
          this.current = e.node;
          this.value = 0;
          this.max = 1;
        }
        break;
      case 'executed':
        this.done.add(e.node);
        break;
    }
    return this.snapshot();
  }

  /** A `progress` frame (steps of one node); returns the progress to relay. */
  steps(value: number, max: number, node: string | null): JobProgress {
    if (node !== null && node !== this.current) {
      if (this.current !== null) this.done.add(this.current);
      this.current = node;
    }
    this.value = value;
    this.max = max;
    return this.snapshot();
  }

  /** 0–1 over the whole prompt; 1 once ComfyUI said the prompt is done. */
  fraction(): number {
    if (this.finished) return 1;
    let done = 0;
    for (const id of this.done) done += this.weights.get(id) ?? 0;
    if (this.current !== null && !this.done.has(this.current) && this.max > 0) {
      done += (this.weights.get(this.current) ?? 1) * Math.min(1, Math.max(0, this.value / this.max));
    }
    return Math.min(1, done / this.total);
  }

  private snapshot(): JobProgress {
    const node = this.current;
    return {
      value: this.value,
      max: this.max,
      node,
      class_type: node === null ? null : (this.workflow[node]?.class_type ?? null),
      fraction: Math.round(this.fraction() * 10_000) / 10_000,
    };
  }
}
