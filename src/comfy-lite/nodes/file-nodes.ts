/**
 * ComfyUI's nodes that touch the data folder: LoadImage, LoadImageOutput, SaveImage, PreviewImage,
 * SaveImageWebsocket. The loaders resolve names exactly like ComfyUI, annotations and unconfined joins included.
 */
import { createHash, randomInt } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, normalize, resolve } from 'node:path';
import sharp from 'sharp';
import { PyError, pyJsonDumps } from '../py-format.js';
import { asImage, bytesToFrame, framePng, makeImage, type ImageBatch } from '../image/tensor.js';
import { withTextChunks } from '../image/png-text.js';
import { annotatedFilePath, inputSubfolders, isInside, type DataDirs } from '../paths.js';
import {
  loadImageInfo,
  loadImageOutputInfo,
  previewImageInfo,
  saveImageInfo,
  saveImageWebsocketInfo,
} from './object-info.js';
import { str, type FolderListing, type NodeContext, type NodeDef } from './types.js';

/** `os.path.exists`: files and folders alike. */
async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => null)) !== null;
}

/** LoadImage: RGB in [0, 1]; MASK is 1 − alpha, or a 64×64 zero mask for images without alpha. */
async function loadImage(path: string): Promise<[ImageBatch, unknown]> {
  let decoded;
  try {
    decoded = await sharp(await readFile(path))
      .rotate()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch {
    throw new PyError('PIL.UnidentifiedImageError', `cannot identify image file '${path}'`);
  }
  const { data, info } = decoded;
  const { width, height, channels } = info;
  const rgb = Buffer.alloc(width * height * 3);
  const alpha = channels === 2 || channels === 4 ? new Float32Array(width * height) : null;
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < 3; c++) rgb[p * 3 + c] = data[p * channels + (channels < 3 ? 0 : c)]!;
    if (alpha !== null) alpha[p] = 1 - data[p * channels + channels - 1]! / 255;
  }
  const mask =
    alpha === null
      ? { kind: 'MASK', width: 64, height: 64, frames: [new Float32Array(64 * 64)] }
      : { kind: 'MASK', width, height, frames: [alpha] };
  return [makeImage(width, height, [bytesToFrame(rgb)]), mask];
}

/** LoadImage's VALIDATE_INPUTS, IS_CHANGED and load_image; LoadImageOutput inherits all three. */
function loadImageDef(info: NodeDef['info']): NodeDef {
  return {
    info,
    validate: {
      inputs: ['image'],
      async check(inputs, dirs) {
        // folder_paths.exists_annotated_filepath
        return (await exists(annotatedFilePath(dirs, str(inputs, 'image'))))
          ? true
          : `Invalid image file: ${str(inputs, 'image')}`;
      },
    },
    async isChanged(inputs, dirs) {
      return createHash('sha256')
        .update(await readFile(annotatedFilePath(dirs, str(inputs, 'image'))))
        .digest('hex');
    },
    run: async (inputs, ctx) => ({
      result: await loadImage(annotatedFilePath(ctx.dirs, str(inputs, 'image'))),
    }),
  };
}

const loadImageNode = loadImageDef((listing) => loadImageInfo(listing.inputImages));

/** `LoadImageOutput(LoadImage)`: only the widget differs (the output folder's files, picked as `name [output]`). */
const loadImageOutputNode = loadImageDef(() => loadImageOutputInfo);

/** `compute_vars`: %width%, %height% and the local date and time in a filename prefix. */
function expandVars(prefix: string, width: number, height: number): string {
  const now = new Date();
  const two = (n: number): string => String(n).padStart(2, '0');
  const vars: Record<string, string> = {
    '%width%': String(width),
    '%height%': String(height),
    '%year%': String(now.getFullYear()),
    '%month%': two(now.getMonth() + 1),
    '%day%': two(now.getDate()),
    '%hour%': two(now.getHours()),
    '%minute%': two(now.getMinutes()),
    '%second%': two(now.getSeconds()),
  };
  return Object.entries(vars).reduce((text, [key, value]) => text.replaceAll(key, value), prefix);
}

/** `folder_paths.get_save_image_path`: subfolder from the prefix, counter = highest existing + 1. */
async function saveImagePath(outputDir: string, prefix: string, width: number, height: number) {
  const expanded = prefix.includes('%') ? expandVars(prefix, width, height) : prefix;
  const normalized = normalize(expanded);
  const subfolder = dirname(normalized) === '.' ? '' : dirname(normalized);
  const filename = basename(normalized);
  // resolve, not join: like Python's os.path.join, an absolute subfolder replaces the base (and is refused below).
  const folder = resolve(outputDir, subfolder);
  if (!isInside(outputDir, folder)) {
    throw new PyError(
      'Exception',
      `**** ERROR: Saving image outside the output folder is not allowed.\n full_output_folder: ${folder}\n         output_dir: ${outputDir}`,
    );
  }
  const existing = await readdir(folder).catch(async () => {
    await mkdir(folder, { recursive: true });
    return [];
  });
  let counter = 1;
  for (const name of existing) {
    const digits = Number.parseInt(name.slice(filename.length + 1).split('_')[0] ?? '', 10);
    if (name.slice(0, filename.length + 1) === `${filename}_` && Number.isInteger(digits))
      counter = Math.max(counter, digits + 1);
  }
  return { folder, filename, counter, subfolder };
}

/** PNG text chunks as SaveImage writes them: `prompt`, then one per extra_pnginfo key (usually `workflow`). */
function pngTexts(ctx: NodeContext): Array<[string, string]> {
  const texts: Array<[string, string]> = [['prompt', pyJsonDumps(ctx.prompt)]];
  const extra = ctx.extraPngInfo;
  if (typeof extra === 'object' && extra !== null && !Array.isArray(extra)) {
    for (const [key, value] of Object.entries(extra)) texts.push([key, pyJsonDumps(value)]);
  }
  return texts;
}

async function saveImages(
  images: ImageBatch,
  prefix: string,
  type: 'output' | 'temp',
  level: number,
  ctx: NodeContext,
) {
  const dir = type === 'output' ? ctx.dirs.output : ctx.dirs.temp;
  const target = await saveImagePath(dir, prefix, images.width, images.height);
  const results = [];
  for (let i = 0; i < images.frames.length; i++) {
    const file = `${target.filename.replaceAll('%batch_num%', String(i))}_${String(target.counter + i).padStart(5, '0')}_.png`;
    await writeFile(
      join(target.folder, file),
      withTextChunks(await framePng(images, i, level), pngTexts(ctx)),
    );
    results.push({ filename: file, subfolder: target.subfolder, type });
  }
  return { result: [], ui: { images: results } };
}

const saveImageNode: NodeDef = {
  info: () => saveImageInfo,
  run: async (inputs, ctx) =>
    await saveImages(asImage(inputs.images), str(inputs, 'filename_prefix'), 'output', 4, ctx),
};

const PREVIEW_LETTERS = 'abcdefghijklmnopqrstupvxyz';

const previewImageNode: NodeDef = {
  info: () => previewImageInfo,
  async run(inputs, ctx) {
    const suffix = Array.from({ length: 5 }, () => PREVIEW_LETTERS[randomInt(PREVIEW_LETTERS.length)]).join(
      '',
    );
    return await saveImages(asImage(inputs.images), `ComfyUI_temp_${suffix}`, 'temp', 1, ctx);
  },
};

/** The example node ComfyUI ships in custom_nodes/: sends each image as a binary preview frame, saves nothing. */
const saveImageWebsocketNode: NodeDef = {
  info: () => saveImageWebsocketInfo,
  isChanged: async () => String(Date.now() + Math.random()),
  async run(inputs, ctx) {
    const images = asImage(inputs.images);
    for (let i = 0; i < images.frames.length; i++)
      ctx.progress(i, images.frames.length, await framePng(images, i, 1));
    return { result: [] };
  },
};

/** The file nodes by ComfyUI class name. */
export const fileNodes: Record<string, NodeDef> = {
  LoadImage: loadImageNode,
  LoadImageOutput: loadImageOutputNode,
  SaveImage: saveImageNode,
  PreviewImage: previewImageNode,
  SaveImageWebsocket: saveImageWebsocketNode,
};

/** What INPUT_TYPES lists from the data folder right now. */
export async function folderListing(dirs: DataDirs): Promise<FolderListing> {
  return { inputImages: await listInputImages(dirs), inputSubfolders: await inputSubfolders(dirs) };
}

/** Files LoadImage offers: top-level image files of the input folder, sorted. */
export async function listInputImages(dirs: DataDirs): Promise<string[]> {
  const entries = await readdir(dirs.input, { withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile() && /\.(png|jpe?g|webp|gif|bmp|tiff?)$/i.test(e.name))
    .map((e) => e.name)
    .sort();
}
