/** Where a job's files live in object storage. */

/** A filename reduced to one safe storage segment (no separators, no leading dots, bounded length). */
export function safeFilename(filename: string): string {
  const base = filename.split(/[\\/]/).pop() ?? '';
  const cleaned = base
    .replace(/[^A-Za-z0-9._-]/g, '_')
    .replace(/^\.+/, '')
    .slice(-120);
  return cleaned === '' ? 'output' : cleaned;
}

/** The storage key of a job's output: `jobs/<jobId>/outputs/<index>-<filename>`. */
export function outputKey(jobId: string, index: number, filename: string): string {
  return `${outputPrefix(jobId)}${index}-${safeFilename(filename)}`;
}

/** Every output key of the job starts with this. */
export function outputPrefix(jobId: string): string {
  return `jobs/${jobId}/outputs/`;
}
