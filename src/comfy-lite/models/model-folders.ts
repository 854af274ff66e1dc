/**
 * ComfyUI's folder_paths for model files: the folder names, the paths under `models/` each one searches (`unet/`
 * and `diffusion_models/` both feed `diffusion_models`), the extensions it accepts, and `get_filename_list` with
 * its cache (a listing is reused until the modification time of a folder it walked changes, or a configured
 * folder appears).
 */
import type { Stats } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { extname, join, posix, relative, resolve, sep } from 'node:path';

const PT = ['.ckpt', '.pt', '.pt2', '.bin', '.pth', '.safetensors', '.pkl', '.sft'];

/** `folder_names_and_paths` in ComfyUI's order (`GET /models` lists these names): sub-folders and extensions. */
const FOLDERS: ReadonlyArray<[name: string, subdirs: string[], extensions: string[]]> = [
  ['checkpoints', ['checkpoints'], PT],
  ['configs', ['configs'], ['.yaml']],
  ['loras', ['loras'], PT],
  ['vae', ['vae'], PT],
  ['text_encoders', ['text_encoders', 'clip'], PT],
  ['diffusion_models', ['unet', 'diffusion_models'], PT],
  ['clip_vision', ['clip_vision'], PT],
  ['style_models', ['style_models'], PT],
  ['embeddings', ['embeddings'], PT],
  // ComfyUI lists diffusers with the "extension" `folder`, which no file name matches.
  ['diffusers', ['diffusers'], ['folder']],
  ['vae_approx', ['vae_approx'], PT],
  ['controlnet', ['controlnet', 't2i_adapter'], PT],
  ['gligen', ['gligen'], PT],
  ['upscale_models', ['upscale_models'], PT],
  // custom_nodes sits beside models/ in ComfyUI; comfy-lite has none, so it always lists nothing.
  ['custom_nodes', [], []],
  ['hypernetworks', ['hypernetworks'], PT],
  ['photomaker', ['photomaker'], PT],
  // An empty-string extension: files without one.
  ['classifiers', ['classifiers'], ['']],
  ['model_patches', ['model_patches'], PT],
  ['audio_encoders', ['audio_encoders'], PT],
];

/** The folders a fresh models directory gets (ComfyUI ships them in its repository). */
export const DEFAULT_MODEL_SUBDIRS = FOLDERS.flatMap(([, subdirs]) => subdirs);

/** `map_legacy`: the old names `unet` and `clip`. */
const LEGACY: Record<string, string> = { unet: 'diffusion_models', clip: 'text_encoders' };

interface Listing {
  files: string[];
  /** Every folder walked, with its modification time (ms). */
  dirs: Map<string, number>;
}

/** Python's `sorted()` on str: by code point, not by UTF-16 unit. */
function byCodePoint(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

const mtime = async (path: string): Promise<number | null> =>
  (await stat(path).catch(() => null))?.mtimeMs ?? null;

/** `recursive_search`: relative file paths (with `/`) under a folder, following links, skipping `.git`. */
async function walk(root: string): Promise<Listing> {
  const dirs = new Map<string, number>();
  const files: string[] = [];
  const top = await stat(root).catch(() => null);
  if (top === null || !top.isDirectory()) return { files, dirs };
  dirs.set(root, top.mtimeMs);
  const pending = [root];
  for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
    const entries = await readdir(dir).catch(() => []);
    for (const name of entries) {
      const path = join(dir, name);
      const st: Stats | null = await stat(path).catch(() => null);
      if (st === null) continue;
      if (st.isDirectory()) {
        if (name === '.git') continue;
        dirs.set(path, st.mtimeMs);
        pending.push(path);
      } else files.push(relative(root, path).split(sep).join(posix.sep));
    }
  }
  return { files, dirs };
}

/** The model folders of one comfy-lite: listings (cached as ComfyUI caches them) and file lookups. */
export class ModelFolders {
  private readonly cache = new Map<string, Listing>();
  /** The listing each folder had at the last `refresh`, for the synchronous `list`. */
  private readonly snapshot = new Map<string, string[]>();

  constructor(readonly root: string) {}

  /** Folder names as `GET /models` answers them. */
  names(): string[] {
    return FOLDERS.map(([name]) => name);
  }

  private folder(name: string): { paths: string[]; extensions: string[] } | null {
    const found = FOLDERS.find(([n]) => n === (LEGACY[name] ?? name));
    return found === undefined
      ? null
      : { paths: found[1].map((d) => join(this.root, d)), extensions: found[2] };
  }

  /** `cached_filename_list_`: the cached listing while no walked folder changed and none appeared. */
  private async cached(name: string, paths: string[]): Promise<Listing | null> {
    const hit = this.cache.get(name);
    if (hit === undefined) return null;
    const checks = [
      ...[...hit.dirs].map(async ([dir, time]) => (await mtime(dir)) === time),
      ...paths
        .filter((p) => !hit.dirs.has(p))
        .map(async (p) => (await stat(p).catch(() => null))?.isDirectory() !== true),
    ];
    return (await Promise.all(checks)).every(Boolean) ? hit : null;
  }

  /** `get_filename_list`: the sorted file names of a folder (rescanned only when its folders changed). */
  async fileList(name: string): Promise<string[]> {
    const folder = this.folder(name);
    if (folder === null) throw new Error(`unknown model folder ${name}`);
    let listing = await this.cached(name, folder.paths);
    if (listing === null) {
      const found = new Set<string>();
      const dirs = new Map<string, number>();
      for (const p of folder.paths) {
        const part = await walk(p);
        const { extensions } = folder;
        for (const f of part.files) {
          if (extensions.length === 0 || extensions.includes(extname(f).toLowerCase())) found.add(f);
        }
        for (const [d, t] of part.dirs) dirs.set(d, t);
      }
      listing = { files: [...found].sort(byCodePoint), dirs };
      this.cache.set(name, listing);
    }
    this.snapshot.set(name, listing.files);
    return [...listing.files];
  }

  /** Brings the listings `list` answers up to date (before validation and object_info, as ComfyUI lists then). */
  async refresh(names: readonly string[] = this.names()): Promise<void> {
    await Promise.all(names.map((name) => this.fileList(name)));
  }

  /** The listing of a folder as of the last `refresh`. */
  list(name: string): string[] {
    return [...(this.snapshot.get(LEGACY[name] ?? name) ?? [])];
  }

  /** `get_full_path`: the first folder holding the file (the name cannot leave the folder); null when none. */
  async fullPath(name: string, filename: string): Promise<string | null> {
    const folder = this.folder(name);
    if (folder === null) return null;
    const confined = relative('/', resolve('/', filename));
    for (const p of folder.paths) {
      const full = join(p, confined);
      if ((await stat(full).catch(() => null))?.isFile() === true) return full;
    }
    return null;
  }
}
