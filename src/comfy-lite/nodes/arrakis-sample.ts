/**
 * ArrakisSample: comfy-lite's stand-in for KSampler + VAEDecode. It spends `seconds_per_step` per step, reporting
 * progress after each step as KSampler does (`value` 1..steps) and stopping at once on interrupt, then returns a
 * picture decided by the model's fingerprint, the seed, the steps and the size: same inputs, same pixels.
 */
import { createHash } from 'node:crypto';
import { makeImage } from '../image/tensor.js';
import { asModel } from '../models/model-values.js';
import { arrakisSampleInfo } from './model-object-info.js';
import { num, type NodeDef } from './types.js';

/** A seeded xorshift32 stream in [0, 1). */
function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

/** Two colours blended by a wave pattern, with a little grain: every parameter comes from `key`. */
export function samplePixels(width: number, height: number, key: Buffer): Float32Array {
  const byte = (i: number): number => key[i % key.length]! / 255;
  const from = [byte(0), byte(1), byte(2)];
  const to = [byte(3), byte(4), byte(5)];
  const [fx, fy] = [(1 + byte(6) * 5) / width, (1 + byte(7) * 5) / height].map((f) => f * 2 * Math.PI);
  const [px, py] = [byte(8) * 2 * Math.PI, byte(9) * 2 * Math.PI];
  const grain = xorshift(key.readUInt32BE(10));
  const out = new Float32Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const wy = Math.cos(fy! * y + py);
    for (let x = 0; x < width; x++) {
      const t = 0.5 + 0.5 * Math.sin(fx! * x + px) * wy;
      const noise = (grain() - 0.5) * 0.06;
      const at = (y * width + x) * 3;
      for (let c = 0; c < 3; c++)
        out[at + c] = Math.min(1, Math.max(0, from[c]! + (to[c]! - from[c]!) * t + noise));
    }
  }
  return out;
}

export const arrakisSample: NodeDef = {
  info: () => arrakisSampleInfo,
  async run(inputs, ctx) {
    const model = asModel(inputs.model, 'MODEL', 'model_sampling');
    const [width, height, steps, seed] = ['width', 'height', 'steps', 'seed'].map((n) => num(inputs, n));
    const stepMs = num(inputs, 'seconds_per_step') * 1000;
    for (let step = 1; step <= steps!; step++) {
      // With no time per step, still yield between steps so an interrupt can arrive (a timer would cost 1 ms).
      if (stepMs > 0) await ctx.sleep(stepMs);
      else await new Promise<void>((resolve) => setImmediate(resolve));
      ctx.progress(step, steps!);
    }
    const key = createHash('sha256')
      .update([model.fingerprint, String(seed), String(steps), String(width), String(height)].join('\0'))
      .digest();
    return { result: [makeImage(width!, height!, [samplePixels(width!, height!, key)])] };
  },
};
