/**
 * The one rule for turning a name that came from outside (an upload, a ComfyUI output, a job input name) into
 * a single safe file or storage-key segment: its last path component, every character outside
 * `[A-Za-z0-9._-]` replaced by `_`, at most `MAX_FILENAME` characters (the end is kept, where the extension
 * is), no leading dot (no hidden files, no `.`/`..`), and `fallback` when nothing is left.
 */

/** Longest name kept (file systems refuse names over 255 bytes; keys gain a prefix). */
export const MAX_FILENAME = 120;

/** `name` as one safe segment, or `fallback` when nothing usable is left (see the module comment). */
export function safeFilename(name: string | null | undefined, fallback: string): string {
  const base = (name ?? '').split(/[\\/]/).pop() ?? '';
  const cleaned = base
    .replace(/[^A-Za-z0-9._-]/g, '_')
    .slice(-MAX_FILENAME)
    .replace(/^\.+/, '');
  return cleaned === '' ? fallback : cleaned;
}
