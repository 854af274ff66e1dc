/**
 * `Prefer: wait=N, outputs=inline` on POST /v1/jobs: a job that completes within the wait is answered with its
 * outputs' bytes inside the answer (each output's `data`, base64), so the client holds them after one request
 * instead of one more request per output. Only a hint (RFC 7240): outputs are inlined in order while they fit
 * the answer's budget (INLINE_ANSWER_MAX_BYTES of raw bytes); one that does not fit, or whose bytes cannot be
 * read now (deleted, storage unreachable or slower than INLINE_READ_MS), is listed without `data`, and its `url`
 * serves it as always. A process-wide budget (INLINE_IN_FLIGHT_MAX_BYTES) bounds the bytes all inlining answers
 * hold at once: past it, answers list URLs only, so a burst of large waits cannot exhaust the replica's memory.
 *
 * The bytes come from where the download route reads them: this replica's recent-output memory for a job its
 * agent just stored, else the storage (on S3 a GetObject from this replica, not a presigned URL). The route
 * inlines only for a caller that could download them: the job's owner (it submitted the job) holding the
 * `jobs:read` scope the download route requires.
 */
import { Readable } from 'node:stream';
import { publicOutputs, type JobView } from '../jobs/public-job.js';
import { answerOutputs, publicJobJson } from '../jobs/public-job-json.js';
import type { JobOutput } from '../jobs/types.js';
import { readLimited } from '../media/body-reader.js';
import { abortable } from '../util/abortable.js';
import { callBound } from '../util/call-bound.js';
import type { ObjectStorage } from '../media/storage/contract.js';

/** Raw bytes one answer inlines at most (base64 makes the JSON a third larger). */
export const INLINE_ANSWER_MAX_BYTES = 8 * 1024 * 1024;
/**
 * Raw bytes all answers of this process being built or sent hold at most. The memory they take is about three
 * times that: the bytes, their base64 text and the answer's text.
 */
export const INLINE_IN_FLIGHT_MAX_BYTES = 32 * 1024 * 1024;
/** How long one answer may spend reading its outputs; what is not read by then keeps only its URL. */
export const INLINE_READ_MS = 5_000;

let inFlight = 0;

/** Raw output bytes the answers of this process hold now (tests). */
export function inlineBytesInFlight(): number {
  return inFlight;
}

/** Whether the `Prefer` header asks for outputs inline (`outputs=inline`, any case, quoted or not). */
export function prefersInlineOutputs(header: string | string[] | undefined): boolean {
  const text = Array.isArray(header) ? header.join(',') : header;
  if (text === undefined) return false;
  return text.split(',').some((p) => /^\s*outputs\s*=\s*"?inline"?\s*(;.*)?$/i.test(p));
}

/** What inlining took from the process's budget; `release` gives it back once the answer is sent. */
export interface InlineData {
  /** The bytes read, by output index. */
  data: Map<number, Buffer>;
  release: () => void;
}

/** One output's bytes, or null when the storage has no such object; its body is dropped once `signal` aborts. */
async function readOutput(
  storage: ObjectStorage,
  output: JobOutput,
  signal: AbortSignal,
): Promise<Buffer | null> {
  const object = await storage.get(output.objectKey, output, signal);
  if (object === null) return null;
  if (object.bytes !== undefined) return object.bytes;
  const drop = (): void => void object.body.destroy();
  if (signal.aborted) {
    drop();
    return null;
  }
  signal.addEventListener('abort', drop, { once: true });
  try {
    return (
      await readLimited(object.body, { maxBytes: output.size, expectImage: false, declaredLength: null })
    ).bytes;
  } finally {
    signal.removeEventListener('abort', drop);
  }
}

/**
 * The bytes of `job`'s outputs that fit, by output index, reserved against the process's budget until
 * `release`. Reading stops when `signal` aborts (the client left, the server drains) or after `readMs`
 * (INLINE_READ_MS):
 * what is not read by then is left to its URL. Never throws: an output it cannot read is left to its URL (and
 * logged).
 */
export async function inlineOutputData(
  storage: ObjectStorage,
  job: JobView,
  log: { warn(fields: object, message: string): void },
  options: { signal?: AbortSignal; readMs?: number } = {},
): Promise<InlineData> {
  const data = new Map<number, Buffer>();
  // A plain timer (callBound), not AbortSignal.timeout inside AbortSignal.any: Node 20 may collect such a timeout
  // signal before it fires (nodejs/node#57736), and the read would then wait on a stalled bucket unbounded.
  const bound = callBound(options.readMs ?? INLINE_READ_MS, options.signal);
  const stop = bound.signal;
  let reserved = 0;
  try {
    for (const output of job.outputs) {
      if (stop.aborted) break;
      const room = Math.min(INLINE_ANSWER_MAX_BYTES - reserved, INLINE_IN_FLIGHT_MAX_BYTES - inFlight);
      if (output.size > room) continue;
      inFlight += output.size;
      reserved += output.size;
      try {
        const bytes = await abortable(readOutput(storage, output, stop), stop);
        if (bytes !== null) data.set(output.index, bytes);
      } catch (err) {
        if (stop.aborted) break;
        log.warn(
          { err, jobId: job.id, index: output.index },
          'an output could not be inlined; its URL serves it',
        );
      }
    }
  } finally {
    bound.end();
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

/** Raw bytes turned into base64 in one turn of the event loop (a multiple of 3, so the slices join). */
const SLICE_BYTES = 3 * 128 * 1024;
/**
 * An answer inlining at most this many raw bytes is built in one turn (no stream's machinery on a fast job's
 * path); a larger one is streamed a slice a turn. On the 2-core bench machine base64 and the text of 8 MiB took
 * 40 and 90 ms more, and its encoding to the socket 85 ms: built at once, one answer would hold up every other
 * request of the replica for a fifth of a second.
 */
export const ONE_TURN_BYTES = 256 * 1024;

/** The answer's text in pieces: the job's JSON, each inlined output's `data` spliced in a base64 slice at a time. */
function* answerPieces(job: JobView, origin: string, data: ReadonlyMap<number, Buffer>): Generator<string> {
  // The job without outputs, split where they go: `"outputs":[]` with its quotes appears first as that key (a
  // string value escapes its quotes, progress before it has a fixed set of keys, and metadata, the one
  // user-shaped object, comes after it).
  const shell = publicJobJson({ ...job, outputs: [] }, origin);
  const at = shell.indexOf('"outputs":[]') + '"outputs":'.length;
  yield `${shell.slice(0, at)}[`;
  for (const [i, output] of answerOutputs(publicOutputs(job), origin).entries()) {
    const json = JSON.stringify(output);
    const bytes = data.get(output.index);
    if (i > 0) yield ',';
    if (bytes === undefined) {
      yield json;
      continue;
    }
    // Base64 needs no JSON escaping: the slices go in as they are.
    yield `${json.slice(0, -1)},"data":"`;
    for (let start = 0; start < bytes.length; start += SLICE_BYTES) {
      yield bytes.subarray(start, start + SLICE_BYTES).toString('base64');
    }
    yield '"}';
  }
  yield `]${shell.slice(at + 2)}`;
}

/**
 * The answer carrying `data`: one text when the inlined bytes are few (ONE_TURN_BYTES), else a stream that makes
 * and sends a base64 slice a turn, so no request of the replica waits behind a large answer.
 */
export function inlineAnswer(
  job: JobView,
  origin: string,
  data: ReadonlyMap<number, Buffer>,
): string | Readable {
  let total = 0;
  for (const bytes of data.values()) total += bytes.length;
  if (total <= ONE_TURN_BYTES) return [...answerPieces(job, origin, data)].join('');
  return Readable.from(
    (async function* () {
      for (const piece of answerPieces(job, origin, data)) {
        yield Buffer.from(piece);
        await new Promise((resolve) => setImmediate(resolve));
      }
    })(),
  );
}
