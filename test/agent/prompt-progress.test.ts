/** Issue 13 item 6: the whole-prompt fraction, weighted by sampler steps, with cached nodes counted done. */
import { describe, expect, it } from 'vitest';
import { PromptProgress } from '../../src/agent/prompt-progress.js';
import type { Workflow } from '../../src/jobs/types.js';

const txt2img: Workflow = {
  '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'm.safetensors' } },
  '2': { class_type: 'EmptyLatentImage', inputs: { width: 8, height: 8, batch_size: 1 } },
  '3': { class_type: 'KSampler', inputs: { model: ['1', 0], latent_image: ['2', 0], steps: 20, seed: 1 } },
  '4': { class_type: 'VAEDecode', inputs: { samples: ['3', 0], vae: ['1', 2] } },
  '5': { class_type: 'SaveImage', inputs: { images: ['4', 0], filename_prefix: 'x' } },
};

describe('PromptProgress', () => {
  it('weighs a sampler by its steps: 4 other nodes + 20 steps = 24 units', () => {
    const p = new PromptProgress(txt2img);
    expect(p.node({ kind: 'executing', node: '1' })).toMatchObject({
      node: '1',
      class_type: 'CheckpointLoaderSimple',
      fraction: 0,
    });
    p.node({ kind: 'executing', node: '2' });
    expect(p.node({ kind: 'executing', node: '3' })).toMatchObject({
      class_type: 'KSampler',
      fraction: 0.0833,
    });
    expect(p.steps(10, 20, '3')).toMatchObject({ value: 10, max: 20, fraction: 0.5 });
    expect(p.node({ kind: 'executing', node: '4' })?.fraction).toBeCloseTo(22 / 24, 3);
    expect(p.node({ kind: 'executing', node: null })).toMatchObject({
      node: null,
      class_type: null,
      fraction: 1,
    });
  });

  it('counts cached nodes as done and ignores an empty cache report', () => {
    const p = new PromptProgress(txt2img);
    expect(p.node({ kind: 'cached', nodes: [] })).toBeNull();
    expect(p.node({ kind: 'cached', nodes: ['1', '2', '3'] })?.fraction).toBeCloseTo(22 / 24, 3);
  });

  it('never goes back when progress frames name a node before its executing frame', () => {
    const p = new PromptProgress(txt2img);
    const seen = [
      p.node({ kind: 'executing', node: '1' })?.fraction ?? 0,
      p.steps(1, 20, '3').fraction ?? 0,
      p.steps(20, 20, '3').fraction ?? 0,
      p.node({ kind: 'executed', node: '3', files: [] })?.fraction ?? 0,
      p.node({ kind: 'executing', node: '5' })?.fraction ?? 0,
    ];
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
  });
});
