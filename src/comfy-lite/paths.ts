/** The data directory (input/, output/, temp/) and ComfyUI's folder_paths rules for names inside it. */
import { extname, join, resolve, sep } from 'node:path';

export type FolderType = 'input' | 'output' | 'temp';

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
 * `folder_paths.annotated_filepath`: a name may end in ` [input]`, ` [output]` or ` [temp]` to pick the folder.
 * Returns the bare name and the folder it names (null when not annotated).
 */
export function annotatedFilepath(dirs: DataDirs, name: string): { name: string; dir: string | null } {
  for (const type of ['output', 'input', 'temp'] as const) {
    const suffix = ` [${type}]`;
    if (name.endsWith(suffix)) return { name: name.slice(0, -suffix.length), dir: dirs[type] };
  }
  return { name, dir: null };
}

/** The file an input name like `subfolder/name.png` refers to; null when it would leave its folder. */
export function inputFilePath(dirs: DataDirs, image: string): string | null {
  const { name, dir } = annotatedFilepath(dirs, image);
  const base = dir ?? dirs.input;
  const path = resolve(base, name);
  return isInside(base, path) && path !== resolve(base) ? path : null;
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
