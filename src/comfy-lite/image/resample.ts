/**
 * torch.nn.functional.interpolate (align_corners=False) and adaptive average pooling, as separable passes over
 * float32 RGB frames: what ComfyUI's `common_upscale` does for nearest-exact, bilinear, bicubic and area.
 */

type Taps = Array<Array<[index: number, weight: number]>>;

const clampIndex = (i: number, size: number): number => Math.min(Math.max(i, 0), size - 1);

function nearestExactTaps(inSize: number, outSize: number): Taps {
  const scale = Math.fround(inSize / outSize);
  return Array.from({ length: outSize }, (_, d) => [
    [Math.min(Math.floor((d + 0.5) * scale), inSize - 1), 1],
  ]);
}

function bilinearTaps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  return Array.from({ length: outSize }, (_, d) => {
    const src = Math.max(scale * (d + 0.5) - 0.5, 0);
    const i0 = Math.floor(src);
    const lambda = src - i0;
    return [
      [clampIndex(i0, inSize), 1 - lambda],
      [clampIndex(i0 + 1, inSize), lambda],
    ];
  });
}

/** Keys' cubic convolution with A = -0.75, as torch's upsample_bicubic2d. */
function bicubicTaps(inSize: number, outSize: number): Taps {
  const A = -0.75;
  const near = (x: number): number => ((A + 2) * x - (A + 3)) * x * x + 1;
  const far = (x: number): number => ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
  const scale = inSize / outSize;
  return Array.from({ length: outSize }, (_, d) => {
    const src = scale * (d + 0.5) - 0.5;
    const i = Math.floor(src);
    const t = src - i;
    const w = [far(t + 1), near(t), near(1 - t), far(2 - t)];
    return w.map((weight, k): [number, number] => [clampIndex(i - 1 + k, inSize), weight]);
  });
}

function areaTaps(inSize: number, outSize: number): Taps {
  return Array.from({ length: outSize }, (_, d) => {
    const start = Math.floor((d * inSize) / outSize);
    const end = Math.ceil(((d + 1) * inSize) / outSize);
    return Array.from({ length: end - start }, (_, k): [number, number] => [start + k, 1 / (end - start)]);
  });
}

const TAPS: Record<string, (inSize: number, outSize: number) => Taps> = {
  'nearest-exact': nearestExactTaps,
  bilinear: bilinearTaps,
  bicubic: bicubicTaps,
  area: areaTaps,
};

/** True when `resampleFrame` implements the method (lanczos goes through 8-bit PIL-style resizing instead). */
export function isTensorMethod(method: string): boolean {
  return method in TAPS;
}

/** Resizes one RGB frame with the named interpolation. */
export function resampleFrame(
  frame: Float32Array,
  width: number,
  height: number,
  outW: number,
  outH: number,
  method: string,
): Float32Array {
  const make = TAPS[method];
  if (make === undefined) throw new Error(`unknown interpolation ${method}`);
  const xTaps = make(width, outW);
  const yTaps = make(height, outH);
  const mid = new Float32Array(outW * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < outW; x++) {
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        for (const [i, w] of xTaps[x] ?? []) sum += w * (frame[(y * width + i) * 3 + c] ?? 0);
        mid[(y * outW + x) * 3 + c] = sum;
      }
    }
  }
  const out = new Float32Array(outW * outH * 3);
  for (let y = 0; y < outH; y++) {
    const taps = yTaps[y] ?? [];
    for (let i = 0; i < outW * 3; i++) {
      let sum = 0;
      for (const [j, w] of taps) sum += w * (mid[j * outW * 3 + i] ?? 0);
      out[y * outW * 3 + i] = sum;
    }
  }
  return out;
}

/** Crops one RGB frame to the rectangle (x, y, w, h). */
export function cropFrame(
  frame: Float32Array,
  width: number,
  x: number,
  y: number,
  w: number,
  h: number,
): Float32Array {
  const out = new Float32Array(w * h * 3);
  for (let row = 0; row < h; row++) {
    const from = ((y + row) * width + x) * 3;
    out.set(frame.subarray(from, from + w * 3), row * w * 3);
  }
  return out;
}
