/**
 * The ComfyUI prompt id of a job's run: the job id for its first attempt, `<job id>-<attempt>` after that (a
 * retry on the same ComfyUI must not collide with the first attempt's history entry). An agent that finds such
 * an id in its ComfyUI's queue when it starts knows which job and attempt an earlier agent process left there.
 */

/** Job ids as newId makes them: `job_`, 10 characters of time and 16 random ones (Crockford base32). */
const JOB_PROMPT_ID = /^(job_[0-9a-hjkmnp-tv-z]{26})(?:-([1-9][0-9]{0,8}))?$/;

/** The prompt id of attempt `attempt` of job `jobId`. */
export function jobPromptId(jobId: string, attempt: number): string {
  return attempt <= 1 ? jobId : `${jobId}-${attempt}`;
}

/** The job and attempt a prompt id names, or null for a prompt Arrakis did not submit for a job. */
export function parseJobPromptId(promptId: string): { jobId: string; attempt: number } | null {
  const match = JOB_PROMPT_ID.exec(promptId);
  if (match === null || match[1] === undefined) return null;
  const attempt = match[2] === undefined ? 1 : Number(match[2]);
  // `<job>-1` is never submitted (the first attempt's id is the job id): not ours.
  if (match[2] === '1') return null;
  return { jobId: match[1], attempt };
}
