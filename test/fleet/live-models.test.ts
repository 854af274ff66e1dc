import { describe, expect, it } from 'vitest';
import { baseModel, ModelDemand, POPULARITY_WINDOW_MS } from '../../src/fleet/model-demand.js';
import { warmupLoading } from '../../src/fleet/warmup-model.js';

describe('live model demand', () => {
  it('plans on the base model and counts a day of arrivals per model', () => {
    expect(
      baseModel([
        { kind: 'lora', name: 'l.safetensors' },
        { kind: 'checkpoint', name: 'base.ckpt' },
      ]),
    ).toEqual({ kind: 'checkpoint', name: 'base.ckpt' });
    expect(baseModel([{ kind: 'vae', name: 'v.pt' }])?.name).toBe('v.pt');
    expect(baseModel([])).toBeNull();
    const d = new ModelDemand();
    d.arrived('gpu', 1_000, [{ kind: 'checkpoint', name: 'a' }]);
    d.arrived('gpu', 2_000, [{ kind: 'checkpoint', name: 'a' }]);
    d.arrived('gpu', 3_000, [{ kind: 'unet', name: 'b' }]);
    d.arrived('cpu', 3_000, [{ kind: 'checkpoint', name: 'c' }]);
    d.arrived('gpu', 3_000, []);
    expect([...d.popularity('gpu', 4_000)]).toEqual([
      ['a', 2],
      ['b', 1],
    ]);
    expect([...d.popularity('gpu', 1_000 + POPULARITY_WINDOW_MS)]).toEqual([
      ['a', 1],
      ['b', 1],
    ]);
    expect(d.ref('b')).toEqual({ kind: 'unet', name: 'b' });
  });
});

describe('warm-up with a first model', () => {
  const workflow = {
    '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'default.ckpt' } },
    '2': { class_type: 'LoraLoader', inputs: { lora_name: 'x.safetensors', model: ['1', 0] } },
    '3': { class_type: 'SaveImage', inputs: { images: ['2', 0] } },
  };

  it("names the model in the pool's loaders of its kind, and refuses a workflow that would not load it", () => {
    const out = warmupLoading(workflow, { kind: 'checkpoint', name: 'hot.ckpt' });
    expect(out?.['1']).toEqual({ class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'hot.ckpt' } });
    expect(out?.['2']).toEqual(workflow['2']);
    expect(workflow['1'].inputs.ckpt_name).toBe('default.ckpt');
    expect(warmupLoading(workflow, { kind: 'unet', name: 'u.sft' })).toBeNull();
  });
});
