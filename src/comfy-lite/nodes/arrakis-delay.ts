/** ArrakisDelay: comfy-lite's own node. Passes the image through after `seconds`, like a slow sampler would. */
import { asImage } from '../image/tensor.js';
import { arrakisDelayInfo } from './object-info.js';
import { num, type NodeDef } from './types.js';

/** One progress step every 50 ms, as a sampler reports one per step. */
const STEP_MS = 50;

export const arrakisDelay: NodeDef = {
  info: () => arrakisDelayInfo,
  async run(inputs, ctx) {
    const image = asImage(inputs.image);
    const totalMs = num(inputs, 'seconds') * 1000;
    const steps = Math.ceil(totalMs / STEP_MS);
    for (let step = 1; step <= steps; step++) {
      await ctx.sleep(Math.min(STEP_MS, totalMs - (step - 1) * STEP_MS));
      ctx.progress(step, steps);
    }
    return { result: [image] };
  },
};
