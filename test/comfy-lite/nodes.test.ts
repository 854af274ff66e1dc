/** The image nodes' geometry and float math (torch interpolate, reflect-padded blur, clamped crop). */
import { describe, expect, it } from 'vitest';
import { createNodeRegistry } from '../../src/comfy-lite/nodes/registry.js';
import type { NodeContext } from '../../src/comfy-lite/nodes/types.js';
import { asImage, frameToBytes, makeImage, type ImageBatch } from '../../src/comfy-lite/image/tensor.js';

const registry = createNodeRegistry();
// The pure image nodes touch their context only to book their output against the pixel budget.
const ctx = { reserveImage: () => {} } as unknown as NodeContext;

/** An RGB image whose pixels are gray levels (0–255), one row after another. */
function gray(width: number, height: number, levels: number[]): ImageBatch {
  const f = new Float32Array(width * height * 3);
  levels.forEach((v, p) => f.fill(v / 255, p * 3, p * 3 + 3));
  return makeImage(width, height, [f]);
}

async function run(
  node: string,
  inputs: Record<string, unknown>,
): Promise<{ w: number; h: number; px: number[] }> {
  const out = asImage((await registry.get(node)!.run(inputs, ctx)).result[0]);
  const bytes = frameToBytes(out.frames[0]!);
  return { w: out.width, h: out.height, px: [...bytes].filter((_, i) => i % 3 === 0) };
}

describe('ImageScale / ImageScaleBy', () => {
  it('nearest-exact duplicates pixels', async () => {
    const r = await run('ImageScale', {
      image: gray(2, 1, [10, 200]),
      upscale_method: 'nearest-exact',
      width: 4,
      height: 2,
      crop: 'disabled',
    });
    expect(r).toEqual({ w: 4, h: 2, px: [10, 10, 200, 200, 10, 10, 200, 200] });
  });

  it('bilinear follows torch (align_corners=False, edges clamped)', async () => {
    const r = await run('ImageScale', {
      image: gray(2, 1, [0, 255]),
      upscale_method: 'bilinear',
      width: 4,
      height: 1,
      crop: 'disabled',
    });
    expect(r.px).toEqual([0, 63, 191, 255]);
  });

  it('keeps the aspect ratio when one side is 0 (Python rounding)', async () => {
    const r = await run('ImageScale', {
      image: gray(4, 2, [0, 0, 0, 0, 0, 0, 0, 0]),
      upscale_method: 'bicubic',
      width: 0,
      height: 6,
      crop: 'disabled',
    });
    expect([r.w, r.h]).toEqual([12, 6]);
  });

  it('center crop trims to the target aspect before scaling', async () => {
    const r = await run('ImageScale', {
      image: gray(4, 1, [1, 2, 3, 4]),
      upscale_method: 'nearest-exact',
      width: 2,
      height: 1,
      crop: 'center',
    });
    expect(r.px).toEqual([2, 3]);
  });

  it('area averages the covered pixels', async () => {
    const r = await run('ImageScaleBy', {
      image: gray(4, 2, [0, 100, 200, 40, 100, 100, 0, 40]),
      upscale_method: 'area',
      scale_by: 0.5,
    });
    expect(r).toEqual({ w: 2, h: 1, px: [75, 70] });
  });

  it('lanczos goes through 8-bit and keeps a flat image flat', async () => {
    const r = await run('ImageScaleBy', {
      image: gray(4, 4, new Array(16).fill(90)),
      upscale_method: 'lanczos',
      scale_by: 2,
    });
    expect([r.w, r.h, new Set(r.px)]).toEqual([8, 8, new Set([90])]);
  });
});

describe('ImageCrop and ImageBlur', () => {
  it('clamps x and y inside the image, as ComfyUI slicing does', async () => {
    const r = await run('ImageCrop', {
      image: gray(4, 2, [1, 2, 3, 4, 5, 6, 7, 8]),
      width: 3,
      height: 3,
      x: 10,
      y: 10,
    });
    expect(r).toEqual({ w: 1, h: 1, px: [8] });
  });

  it('spreads a bright spot symmetrically', async () => {
    const levels = new Array(25).fill(0);
    levels[12] = 255;
    const r = await run('ImageBlur', { image: gray(5, 5, levels), blur_radius: 2, sigma: 1 });
    expect(r.px[12]).toBeLessThan(255);
    expect(r.px[11]).toBe(r.px[13]);
    expect(r.px[7]).toBe(r.px[17]);
    expect(r.px[11]).toBeGreaterThan(0);
  });

  it('fails like torch when the radius reaches the image size', async () => {
    await expect(
      run('ImageBlur', { image: gray(2, 2, [0, 0, 0, 0]), blur_radius: 2, sigma: 1 }),
    ).rejects.toMatchObject({
      pyType: 'RuntimeError',
    });
  });
});
