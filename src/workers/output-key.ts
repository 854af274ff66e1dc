/**
 * Where a job's files live in object storage. An output is stored while its prompt still runs, before its
 * place in the job's output list is known, so its key carries the attempt and the order it arrived in
 * (`<attempt>.<seq>`), not its index: `jobs/<jobId>/outputs/<attempt>.<seq>-<filename>`. The attempt keeps a
 * late upload of an earlier attempt from overwriting a file of the current one.
 */
import { safeFilename } from '../util/safe-filename.js';

/** Largest arrival number an agent may give an output (a job's output list holds at most 1000). */
export const MAX_OUTPUT_SEQ = 99_999;

/** The storage key of a job's output: `jobs/<jobId>/outputs/<attempt>.<seq>-<filename>`. */
export function outputKey(jobId: string, attempt: number, seq: number, filename: string): string {
  return `${outputPrefix(jobId)}${attempt}.${seq}-${safeFilename(filename, 'output')}`;
}

/**
 * The key the previous release built from an output's index (`<index>-<filename>`). No longer built (that
 * release's upload route now stores under outputKey with the index as the arrival number); files stored so
 * before the upgrade are still accepted in a completion and served.
 */
export function legacyOutputKey(jobId: string, index: number, filename: string): string {
  return `${outputPrefix(jobId)}${index}-${safeFilename(filename, 'output')}`;
}

/** `<attempt>.<seq>` (or a legacy `<index>`), canonical decimal numbers only. */
const TAG = /^(?:[1-9]\d{0,5}\.)?(?:0|[1-9]\d{0,5})$/;

/**
 * True when `key` is exactly a key the server builds for output `filename` of `jobId` (outputKey or
 * legacyOutputKey): this job's prefix, a numeric tag, and the safe form of that very filename.
 */
export function isOutputKeyOf(jobId: string, key: string, filename: string): boolean {
  const prefix = outputPrefix(jobId);
  const suffix = `-${safeFilename(filename, 'output')}`;
  if (!key.startsWith(prefix) || !key.endsWith(suffix)) return false;
  return TAG.test(key.slice(prefix.length, key.length - suffix.length));
}

/** Every output key of one attempt of the job starts with this: `jobs/<jobId>/outputs/<attempt>.` */
export function attemptPrefix(jobId: string, attempt: number): string {
  return `${outputPrefix(jobId)}${attempt}.`;
}

/** The attempt an output key was stored under, or null for a legacy (index-based) or foreign key. */
export function attemptOfKey(jobId: string, key: string): number | null {
  const prefix = outputPrefix(jobId);
  if (!key.startsWith(prefix)) return null;
  const tag = /^([1-9]\d{0,5})\.\d+-/.exec(key.slice(prefix.length));
  return tag === null ? null : Number(tag[1]);
}

/** Every output key of the job starts with this. */
export function outputPrefix(jobId: string): string {
  return `jobs/${jobId}/outputs/`;
}
