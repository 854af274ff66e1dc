/**
 * Which files a node's UI output names may be stored as one job's outputs. ComfyUI's `/view` serves any file in
 * its shared output folder, and a node's UI output can name any of them (an allowlisted custom node, or a node
 * echoing a user-chosen path): only files in the job's own output folder, `arrakis/<jobId>/` (where every saver
 * is rewritten to write, workflow-rewrite.ts), are this job's. See docs/security.md#outputs-a-job-may-store.
 */
import type { ComfyOutputFile } from './contract.js';

/** Why a file is not this job's; null when it is. */
export type OutputRefusal =
  | 'input_folder' // ComfyUI's input folder holds every job's uploads
  | 'unsafe_filename' // a separator, `..` or nothing at all
  | 'outside_job_folder'; // a subfolder that does not resolve under arrakis/<jobId> (temp: another job's)

/**
 * A subfolder's segments as `/view` resolves `os.path.join(output_dir, subfolder)` and normpath: `/` and `\`
 * both separate (a Windows worker writes `arrakis\<id>`; on POSIX a backslash name is a literal directory no
 * rewritten saver can create), empty and `.` segments vanish, `..` drops the one before. Null when the result
 * is not a relative path inside the folder: absolute (`/x`, `\\host\share`), a drive or stream (`C:`, any
 * `:`), a NUL, a `..` past the top, or a segment Windows would rewrite (a trailing dot or space).
 */
export function subfolderSegments(subfolder: string): string[] | null {
  if (/^[/\\]/.test(subfolder) || /[:\0]/.test(subfolder)) return null;
  const segments: string[] = [];
  for (const segment of subfolder.split(/[/\\]/)) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (segments.pop() === undefined) return null;
      continue;
    }
    if (/[. ]$/.test(segment)) return null;
    segments.push(segment);
  }
  return segments;
}

/**
 * True when `/view` reads `filename` from the subfolder itself: no separator (ComfyUI keeps only the basename,
 * but a name that needs cutting was not written by a saver), no `..` (ComfyUI answers 400) and not empty. A
 * trailing `[output]`/`[input]`/`[temp]` annotation is part of the name here; it picks the folder, which
 * collectOutputFiles already gave as `type`.
 */
export function isPlainFilename(filename: string): boolean {
  return filename !== '' && !/[/\\\0]/.test(filename) && !filename.includes('..');
}

/**
 * Null when `file` (typed by the folder `/view` reads: collectOutputFiles) is this job's to store: an `output`
 * file under `arrakis/<jobId>` (at it or below), or a `temp` file anywhere but another job's `arrakis/<id>`.
 * Temp previews cannot be confined: PreviewImage, PreviewAudio and MaskPreview write to the top of ComfyUI's
 * shared temp folder under a random 5-letter prefix and have no prefix input to rewrite; `/view` keeps a temp ref
 * inside the temp folder. But a saver with a rewritten prefix may write to temp (VideoHelperSuite's VideoCombine
 * with `save_output` off: `temp/arrakis/<jobId>/…`), so under temp's `arrakis` only this job's folder is kept,
 * `arrakis` matched in any case and the job id exactly (a Windows worker's folders ignore case, and its 8.3 short
 * names such as `JOB_01~1` name some job's folder without its id).
 */
export function outputRefusal(file: ComfyOutputFile, jobId: string): OutputRefusal | null {
  if (file.type === 'input') return 'input_folder';
  if (!isPlainFilename(file.filename)) return 'unsafe_filename';
  const segments = subfolderSegments(file.subfolder);
  if (segments === null) return 'outside_job_folder';
  if (file.type === 'temp') {
    const underArrakis = segments[0]?.toLowerCase() === 'arrakis';
    return underArrakis && segments[1] !== jobId ? 'outside_job_folder' : null;
  }
  if (segments[0] !== 'arrakis' || segments[1] !== jobId) return 'outside_job_folder';
  return null;
}
