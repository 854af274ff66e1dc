/** Where a job's files live in object storage. */
import { safeFilename } from '../util/safe-filename.js';

/** The storage key of a job's output: `jobs/<jobId>/outputs/<index>-<filename>`. */
export function outputKey(jobId: string, index: number, filename: string): string {
  return `${outputPrefix(jobId)}${index}-${safeFilename(filename, 'output')}`;
}

/** Every output key of the job starts with this. */
export function outputPrefix(jobId: string): string {
  return `jobs/${jobId}/outputs/`;
}
