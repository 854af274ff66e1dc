/**
 * Deletes the output files of a job's attempts that nobody can want any more. A file is stored under its
 * attempt (`jobs/<job>/outputs/<attempt>.<seq>-…`, output-key.ts) and is wanted while that attempt runs and,
 * once it completed, as the job's output; the files of any other attempt are orphans: the run lost its lease
 * (expired, requeued, the job ended elsewhere) and its completion, if it ever comes, is refused.
 *
 * Which attempts are over follows from the job's lease columns alone, read at one moment: a run's number is
 * never used again once it lost or gave up the job (the next claim counts one more; a voluntary release is
 * refunded against the retry limit in a column of its own, `refunded_attempts`, and keeps its number).
 */
import type { JobStatus } from '../jobs/types.js';
import type { ObjectStorage } from '../media/storage/contract.js';
import type { OutageLog } from '../util/backoff.js';
import { attemptOfKey, attemptPrefix, outputPrefix } from './output-key.js';

/** What decides which attempts are over: the job's status and its count of claims. */
export interface AttemptState {
  status: JobStatus;
  attempts: number;
}

/**
 * The highest attempt number whose files are orphans (0: none). Queued, every attempt so far is over (the next
 * claim counts a new one); running or completed, all but the current or final one; failed or cancelled, all.
 */
export function lastStaleAttempt(state: AttemptState): number {
  const live = state.status === 'running' || state.status === 'completed';
  return Math.max(0, live ? state.attempts - 1 : state.attempts);
}

/**
 * True when the files of `attempt` are still wanted: it is the attempt running now or the one the job completed
 * with. A late upload of a run that lost the job may land under such a number only when the job completed with
 * that very attempt (the same run's retried upload already stored that file): its key may name a wanted file,
 * so it is left alone.
 */
export function isLiveAttempt(state: AttemptState, attempt: number): boolean {
  return (state.status === 'running' || state.status === 'completed') && state.attempts === attempt;
}

/**
 * Deletes the files of every attempt that is over (lastStaleAttempt), except an attempt a `keep` key was stored
 * under (a completed job's outputs). The job's output folder is listed once and the stale keys among it
 * deleted, however many attempts the job had (every voluntary release counts one: a loop over attempt prefixes
 * would list storage once per attempt). Files of the previous release's index-keyed uploads (legacyOutputKey:
 * no attempt number) are never deleted here, as no attempt's prefix ever named them; retention and a failed
 * or cancelled job's clean-up delete them. Best effort: a storage error is logged and leaves the files to
 * retention. Returns how many objects were deleted.
 */
export async function deleteStaleAttempts(
  storage: ObjectStorage,
  jobId: string,
  state: AttemptState,
  log: OutageLog,
  keep: readonly string[] = [],
): Promise<number> {
  const last = lastStaleAttempt(state);
  if (last === 0) return 0;
  const kept = new Set(keep.map((key) => attemptOfKey(jobId, key)));
  const stale = (key: string): boolean => {
    const attempt = attemptOfKey(jobId, key);
    return attempt !== null && attempt <= last && !kept.has(attempt);
  };
  return await bestEffort(
    async () => {
      const keys = (await storage.list(outputPrefix(jobId))).filter(stale);
      return keys.length === 0 ? 0 : await storage.deleteKeys(keys);
    },
    { jobId, lastStaleAttempt: last },
    log,
  );
}

/** Deletes every file stored under one attempt of the job; best effort (logged, answers 0 on an error). */
export function deleteAttempt(
  storage: ObjectStorage,
  jobId: string,
  attempt: number,
  log: OutageLog,
): Promise<number> {
  return bestEffort(() => storage.deletePrefix(attemptPrefix(jobId, attempt)), { jobId, attempt }, log);
}

/** Deletes one stored output file (a key names one file: its attempt and arrival number are unique). */
export function deleteStoredFile(
  storage: ObjectStorage,
  jobId: string,
  key: string,
  log: OutageLog,
): Promise<number> {
  return bestEffort(() => storage.deleteKeys([key]), { jobId, key }, log);
}

async function bestEffort(
  remove: () => Promise<number>,
  details: Record<string, unknown>,
  log: OutageLog,
): Promise<number> {
  try {
    const deleted = await remove();
    if (deleted > 0) log.info?.({ ...details, deleted }, 'deleted output files of an attempt that is over');
    return deleted;
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    log.warn(
      { ...details, err: why },
      'could not delete output files of an attempt that is over; retention deletes them',
    );
    return 0;
  }
}
