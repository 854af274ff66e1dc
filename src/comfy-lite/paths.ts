/** The data directory (input/, output/, temp/) and ComfyUI's folder_paths rules for names inside it. */
import { readdir } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';

export interface DataDirs {
  root: string;
  input: string;
  output: string;
  temp: string;
}

/** The three folders under one data directory. */
export function dataDirs(root: string): DataDirs {
  const abs = resolve(root);
  return { root: abs, input: join(abs, 'input'), output: join(abs, 'output'), temp: join(abs, 'temp') };
}

/** `folder_paths.get_directory_by_type`: null for an unknown type. */
export function dirByType(dirs: DataDirs, type: string): string | null {
  return type === 'input' || type === 'output' || type === 'temp' ? dirs[type] : null;
}

/** True when `candidate` is `base` or inside it (`os.path.commonpath((base, candidate)) == base`). */
export function isInside(base: string, candidate: string): boolean {
  const b = resolve(base);
  const c = resolve(candidate);
  return c === b || c.startsWith(b + sep);
}

/**
 * `folder_paths.annotated_filepath`, to the character: a name ending in `[output]`, `[input]` or `[temp]` picks
 * that folder, and the suffix is cut together with the one character before it (meant to be a space:
 * `x.png [output]`). Returns the bare name and the folder it names (null when not annotated).
 */
export function annotatedFilepath(dirs: DataDirs, name: string): { name: string; dir: string | null } {
  for (const type of ['output', 'input', 'temp'] as const) {
    const suffix = `[${type}]`;
    if (name.endsWith(suffix))
      return { name: name.slice(0, Math.max(0, name.length - suffix.length - 1)), dir: dirs[type] };
  }
  return { name, dir: null };
}

/**
 * `os.path.join(base, name)` as the file system sees it: an absolute name replaces the base, and `..` climbs out
 * of it. ComfyUI does NOT confine these joins; comfy-lite copies that so tests prove Arrakis never relies on it.
 */
export function pyJoin(base: string, name: string): string {
  return resolve(base, name);
}

/**
 * `folder_paths.get_annotated_filepath`: where LoadImage (and LoadImageOutput, LoadImageMask, ...) read a name
 * from — the annotated folder, else `defaultDir`, else the input folder. Unconfined, exactly like ComfyUI:
 * `../../x.png [output]` or `/etc/x.png` reach any file on the host.
 */
export function annotatedFilePath(dirs: DataDirs, image: string, defaultDir: string | null = null): string {
  const { name, dir } = annotatedFilepath(dirs, image);
  return pyJoin(dir ?? defaultDir ?? dirs.input, name);
}

/** `folder_paths.get_input_subfolders`: every folder under the input folder (not itself), `/`-separated, sorted. */
export async function inputSubfolders(dirs: DataDirs): Promise<string[]> {
  const found: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(rel === '' ? dirs.input : join(dirs.input, rel), {
      withFileTypes: true,
    }).catch(() => []);
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const child = rel === '' ? e.name : `${rel}/${e.name}`;
      found.push(child);
      await walk(child);
    }
  };
  await walk('');
  // Python sorts str by code point; UTF-16 order is the same outside astral characters.
  return found.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

const CONTENT_TYPES: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.bmp': 'image/bmp',
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
  '.svg': 'image/svg+xml',
  '.mp4': 'video/mp4',
  '.webm': 'video/webm',
  '.mov': 'video/quicktime',
  '.mp3': 'audio/mpeg',
  '.wav': 'audio/x-wav',
  '.flac': 'audio/flac',
  '.json': 'application/json',
  '.txt': 'text/plain',
  '.glb': 'model/gltf-binary',
};

/** Python's `mimetypes.guess_type` for the files ComfyUI serves; null when unknown. */
export function guessContentType(filename: string): string | null {
  return CONTENT_TYPES[extname(filename).toLowerCase()] ?? null;
}

/** Content types `/view` never displays inline (ComfyUI forces a download for them). */
export const FORCED_DOWNLOAD_TYPES = new Set([
  'text/html',
  'text/html-sandboxed',
  'application/xhtml+xml',
  'text/javascript',
  'text/css',
]);
