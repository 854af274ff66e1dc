/** ComfyUI's pure image nodes: EmptyImage, ImageInvert, ImageScale, ImageScaleBy, ImageBlur, ImageCrop. */
import sharp from 'sharp';
import { PyError, pyRound } from '../py-format.js';
import { asImage, bytesToFrame, frameToBytes, makeImage, type ImageBatch } from '../image/tensor.js';
import { cropFrame, isTensorMethod, resampleFrame } from '../image/resample.js';
import {
  emptyImageInfo,
  imageBlurInfo,
  imageCropInfo,
  imageInvertInfo,
  imageScaleByInfo,
  imageScaleInfo,
} from './object-info.js';
import { num, str, type NodeDef } from './types.js';

const emptyImage: NodeDef = {
  info: () => emptyImageInfo,
  async run(inputs, ctx) {
    const [width, height, batch, color] = ['width', 'height', 'batch_size', 'color'].map((n) =>
      num(inputs, n),
    );
    ctx.reserveImage(width!, height!, batch!);
    const rgb = [(color! >> 16) & 0xff, (color! >> 8) & 0xff, color! & 0xff].map((c) =>
      Math.fround(c / 0xff),
    );
    const frames = Array.from({ length: batch! }, () => {
      const f = new Float32Array(width! * height! * 3);
      for (let i = 0; i < f.length; i++) f[i] = rgb[i % 3]!;
      return f;
    });
    return { result: [makeImage(width!, height!, frames)] };
  },
};

const imageInvert: NodeDef = {
  info: () => imageInvertInfo,
  async run(inputs, ctx) {
    const image = asImage(inputs.image);
    ctx.reserveImage(image.width, image.height, image.frames.length);
    const frames = image.frames.map((f) => f.map((v) => 1 - v));
    return { result: [makeImage(image.width, image.height, frames)] };
  },
};

/** `comfy.utils.lanczos`: through 8-bit, resized with a Lanczos filter, back to float. */
async function lanczos(
  frame: Float32Array,
  w: number,
  h: number,
  outW: number,
  outH: number,
): Promise<Float32Array> {
  const bytes = await sharp(frameToBytes(frame), { raw: { width: w, height: h, channels: 3 } })
    .resize(outW, outH, { fit: 'fill', kernel: 'lanczos3' })
    .raw()
    .toBuffer();
  return bytesToFrame(bytes);
}

/** `comfy.utils.common_upscale` (crop "center" trims to the target aspect first). */
async function commonUpscale(
  image: ImageBatch,
  outW: number,
  outH: number,
  method: string,
  crop: string,
): Promise<ImageBatch> {
  let { width: w, height: h } = image;
  let frames = image.frames;
  if (crop === 'center') {
    const oldAspect = w / h;
    const newAspect = outW / outH;
    const x = oldAspect > newAspect ? pyRound((w - w * (newAspect / oldAspect)) / 2) : 0;
    const y = oldAspect < newAspect ? pyRound((h - h * (oldAspect / newAspect)) / 2) : 0;
    frames = frames.map((f) => cropFrame(f, w, x, y, w - 2 * x, h - 2 * y));
    [w, h] = [w - 2 * x, h - 2 * y];
  }
  if (outW <= 0 || outH <= 0)
    throw new PyError(
      'RuntimeError',
      `Input and output sizes should be greater than 0, but got output (H: ${outH}, W: ${outW})`,
    );
  const out = isTensorMethod(method)
    ? frames.map((f) => resampleFrame(f, w, h, outW, outH, method))
    : await Promise.all(frames.map((f) => lanczos(f, w, h, outW, outH)));
  return makeImage(outW, outH, out);
}

const imageScale: NodeDef = {
  info: () => imageScaleInfo,
  async run(inputs, ctx) {
    const image = asImage(inputs.image);
    let width = num(inputs, 'width');
    let height = num(inputs, 'height');
    if (width === 0 && height === 0) return { result: [image] };
    if (width === 0) width = Math.max(1, pyRound((image.width * height) / image.height));
    else if (height === 0) height = Math.max(1, pyRound((image.height * width) / image.width));
    ctx.reserveImage(width, height, image.frames.length);
    return {
      result: [await commonUpscale(image, width, height, str(inputs, 'upscale_method'), str(inputs, 'crop'))],
    };
  },
};

const imageScaleBy: NodeDef = {
  info: () => imageScaleByInfo,
  async run(inputs, ctx) {
    const image = asImage(inputs.image);
    const scale = num(inputs, 'scale_by');
    const width = pyRound(image.width * scale);
    const height = pyRound(image.height * scale);
    ctx.reserveImage(width, height, image.frames.length);
    return { result: [await commonUpscale(image, width, height, str(inputs, 'upscale_method'), 'disabled')] };
  },
};

/** ComfyUI's gaussian_kernel samples exp(-d²/2σ²) on linspace(-1, 1): separable, so one axis suffices. */
function gaussian1d(size: number, sigma: number): Float32Array {
  const k = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    const t = size === 1 ? -1 : -1 + (2 * i) / (size - 1);
    k[i] = Math.exp(-(t * t) / (2 * sigma * sigma));
  }
  const sum = k.reduce((a, b) => a + b, 0);
  return k.map((v) => v / sum);
}

/** `F.pad(..., 'reflect')` index for an offset that may fall outside the frame. */
const reflect = (i: number, n: number): number => (i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i);

function blurFrame(
  f: Float32Array,
  w: number,
  h: number,
  radius: number,
  kernel: Float32Array,
): Float32Array {
  const pass = (src: Float32Array, horizontal: boolean): Float32Array => {
    const out = new Float32Array(src.length);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let c = 0; c < 3; c++) {
          let sum = 0;
          for (let k = -radius; k <= radius; k++) {
            const at = horizontal ? y * w + reflect(x + k, w) : reflect(y + k, h) * w + x;
            sum += kernel[k + radius]! * src[at * 3 + c]!;
          }
          out[(y * w + x) * 3 + c] = sum;
        }
      }
    }
    return out;
  };
  return pass(pass(f, true), false);
}

const imageBlur: NodeDef = {
  info: () => imageBlurInfo,
  async run(inputs, ctx) {
    const image = asImage(inputs.image);
    const radius = num(inputs, 'blur_radius');
    if (radius === 0) return { result: [image] };
    if (radius >= image.width || radius >= image.height) {
      const dims = `[${image.frames.length}, 3, ${image.height}, ${image.width}]`;
      throw new PyError(
        'RuntimeError',
        `Argument #4: Padding size should be less than the corresponding input dimension, but got: padding (${radius}, ${radius}) at dimension ${radius >= image.width ? 3 : 2} of input ${dims}`,
      );
    }
    ctx.reserveImage(image.width, image.height, image.frames.length);
    const kernel = gaussian1d(radius * 2 + 1, num(inputs, 'sigma'));
    const frames = image.frames.map((f) => blurFrame(f, image.width, image.height, radius, kernel));
    return { result: [makeImage(image.width, image.height, frames)] };
  },
};

const imageCrop: NodeDef = {
  info: () => imageCropInfo,
  async run(inputs) {
    const image = asImage(inputs.image);
    const x = Math.min(num(inputs, 'x'), image.width - 1);
    const y = Math.min(num(inputs, 'y'), image.height - 1);
    const w = Math.min(x + num(inputs, 'width'), image.width) - x;
    const h = Math.min(y + num(inputs, 'height'), image.height) - y;
    const frames = image.frames.map((f) => cropFrame(f, image.width, x, y, w, h));
    return { result: [makeImage(w, h, frames)] };
  },
};

/** The image nodes by ComfyUI class name. */
export const imageNodes: Record<string, NodeDef> = {
  EmptyImage: emptyImage,
  ImageInvert: imageInvert,
  ImageScale: imageScale,
  ImageScaleBy: imageScaleBy,
  ImageBlur: imageBlur,
  ImageCrop: imageCrop,
};
