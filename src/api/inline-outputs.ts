/**
 * `Prefer: wait=N, outputs=inline` on POST /v1/jobs: a job that completes within the wait is answered with its
 * outputs' bytes inside the answer (each output's `data`, base64), so the client holds them after one request
 * instead of one more request per output. Only a hint (RFC 7240): outputs are inlined in order while they fit
 * the answer's budget (INLINE_ANSWER_MAX_BYTES of raw bytes); one that does not fit, or whose bytes cannot be
 * read now (deleted, storage unreachable), is listed without `data`, and its `url` serves it as always. A
 * process-wide budget (INLINE_IN_FLIGHT_MAX_BYTES) bounds the bytes all inlining answers hold at once: past it,
 * answers list URLs only, so a burst of large waits cannot exhaust the replica's memory.
 *
 * The bytes come from where the download route reads them: this replica's recent-output memory for a job its
 * agent just stored, else the storage (on S3 a GetObject from this replica, not a presigned URL). The route's
 * own checks (the caller submitted the job it reads) are the download route's.
 */
import type { JobView } from '../jobs/public-job.js';
import { readLimited } from '../media/body-reader.js';
import type { ObjectStorage } from '../media/storage/contract.js';

/** Raw bytes one answer inlines at most (base64 makes the JSON a third larger). */
export const INLINE_ANSWER_MAX_BYTES = 8 * 1024 * 1024;
/** Raw bytes all answers of this process being built or sent hold at most. */
export const INLINE_IN_FLIGHT_MAX_BYTES = 64 * 1024 * 1024;

let inFlight = 0;

/** Whether the `Prefer` header asks for outputs inline (`outputs=inline`, any case, quoted or not). */
export function prefersInlineOutputs(header: string | string[] | undefined): boolean {
  const text = Array.isArray(header) ? header.join(',') : header;
  if (text === undefined) return false;
  return text.split(',').some((p) => /^\s*outputs\s*=\s*"?inline"?\s*(;.*)?$/i.test(p));
}

/** What inlining took from the process's budget; `release` gives it back once the answer is sent. */
export interface InlineData {
  /** Base64 bytes by output index. */
  data: Map<number, string>;
  release: () => void;
}

/**
 * The bytes of `job`'s outputs that fit, base64 by output index, reserved against the process's budget until
 * `release`. Never throws: an output it cannot read is left to its URL (and logged).
 */
export async function inlineOutputData(
  storage: ObjectStorage,
  job: JobView,
  log: { warn(fields: object, message: string): void },
): Promise<InlineData> {
  const data = new Map<number, string>();
  let reserved = 0;
  for (const output of job.outputs) {
    const room = Math.min(INLINE_ANSWER_MAX_BYTES - reserved, INLINE_IN_FLIGHT_MAX_BYTES - inFlight);
    if (output.size > room) continue;
    inFlight += output.size;
    reserved += output.size;
    try {
      const object = await storage.get(output.objectKey, output);
      if (object === null) continue;
      const bytes =
        object.bytes ??
        (await readLimited(object.body, { maxBytes: output.size, expectImage: false, declaredLength: null }))
          .bytes;
      data.set(output.index, bytes.toString('base64'));
    } catch (err) {
      log.warn(
        { err, jobId: job.id, index: output.index },
        'an output could not be inlined; its URL serves it',
      );
    }
  }
  let released = false;
  return {
    data,
    release: () => {
      if (released) return;
      released = true;
      inFlight -= reserved;
    },
  };
}
