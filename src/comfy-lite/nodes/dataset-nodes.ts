/**
 * `comfy_extras.nodes_train.LoadImageSetFromFolderNode` (v0.3.65): every .png/.jpg/.jpeg/.webp directly inside
 * `os.path.join(input_dir, folder)` as one IMAGE batch. The folder must be in the combo list (every input
 * subfolder, so every job's upload folder), and the join is not confined — as in ComfyUI.
 */
import { readdir, readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { PyError } from '../py-format.js';
import { bytesToFrame, makeImage } from '../image/tensor.js';
import { pyJoin } from '../paths.js';
import { loadImageSetFromFolderInfo } from './object-info.js';
import { str, type NodeDef } from './types.js';

const EXTENSIONS = ['.png', '.jpg', '.jpeg', '.webp'];

interface Rgb {
  width: number;
  height: number;
  data: Buffer;
}

/** `Image.open(path).convert("RGB")` as 8-bit samples. */
async function openRgb(path: string): Promise<Rgb> {
  try {
    const { data, info } = await sharp(await readFile(path))
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height, data };
  } catch {
    throw new PyError('PIL.UnidentifiedImageError', `cannot identify image file '${path}'`);
  }
}

/** `img.crop((0, 0, w, h))`: the top-left w×h, black where the image is smaller. */
function cropTopLeft(img: Rgb, w: number, h: number): Rgb {
  const data = Buffer.alloc(w * h * 3);
  const rowBytes = Math.min(w, img.width) * 3;
  for (let y = 0; y < Math.min(h, img.height); y++) {
    img.data.copy(data, y * w * 3, y * img.width * 3, y * img.width * 3 + rowBytes);
  }
  return { width: w, height: h, data };
}

/** `img.resize((w, h), Image.Resampling.LANCZOS)`. */
async function resizeLanczos(img: Rgb, w: number, h: number): Promise<Rgb> {
  const data = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .resize(w, h, { fit: 'fill', kernel: 'lanczos3' })
    .raw()
    .toBuffer();
  return { width: w, height: h, data };
}

/** `load_and_process_images`: every image sized like the first one, by `resize_method`. */
async function loadAndProcess(files: string[], dir: string, resizeMethod: string) {
  if (files.length === 0) throw new PyError('ValueError', 'No valid images found in input');
  const frames: Float32Array[] = [];
  let size: { w: number; h: number } | null = null;
  for (const file of files) {
    let img = await openRgb(pyJoin(dir, file));
    size ??= { w: img.width, h: img.height };
    if (img.width !== size.w || img.height !== size.h) {
      if (resizeMethod === 'Crop') img = cropTopLeft(img, size.w, size.h);
      else if (resizeMethod === 'Stretch' || resizeMethod === 'Pad')
        img = await resizeLanczos(img, size.w, size.h);
      else if (resizeMethod === 'None') {
        throw new PyError(
          'ValueError',
          'Your input image size does not match the first image in the dataset. Either select a valid resize method or use the same size for all images.',
        );
      }
    }
    frames.push(bytesToFrame(img.data));
  }
  if (frames.some((f) => f.length !== size!.w * size!.h * 3)) {
    // torch.cat on frames of different sizes (an unknown resize_method lets them through).
    throw new PyError('RuntimeError', 'Sizes of tensors must match except in dimension 0.');
  }
  return makeImage(size!.w, size!.h, frames);
}

export const loadImageSetFromFolderNode: NodeDef = {
  info: (listing) => loadImageSetFromFolderInfo(listing.inputSubfolders),
  listsFolders: true,
  async run(inputs, ctx) {
    if (!('resize_method' in inputs)) {
      // `def load_images(self, folder, resize_method)` has no default for the optional input.
      throw new PyError(
        'TypeError',
        "LoadImageSetFromFolderNode.load_images() missing 1 required positional argument: 'resize_method'",
      );
    }
    const dir = pyJoin(ctx.dirs.input, str(inputs, 'folder'));
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      throw new PyError('FileNotFoundError', `[Errno 2] No such file or directory: '${dir}'`);
    }
    const files = names.filter((f) => EXTENSIONS.some((ext) => f.toLowerCase().endsWith(ext)));
    return { result: [await loadAndProcess(files, dir, str(inputs, 'resize_method'))] };
  },
};
