/** `client.jobs` and `client.outputs`: submit, read, list, cancel, wait for, stream and download jobs. */
import type { z } from 'zod';
import {
  createJobBody,
  jobListSchema,
  jobSchema,
  type Job,
  type JobList,
  type JobStatus,
} from '../api/wire/job.js';
import { ArrakisError } from './errors.js';
import { streamJobEvents, type StreamOptions, type StreamedJobEvent } from './event-stream.js';
import { errorFromResponse, networkError, type Transport } from './transport.js';

type CreateJobBody = z.input<typeof createJobBody>;
type CommonFields = Omit<CreateJobBody, 'workflow' | 'template' | 'params'>;

/** The JSON body of POST /v1/jobs: exactly one of `workflow`, or `template` + `params`, and the optional fields. */
export type CreateJobRequest = CommonFields &
  (
    | { workflow: NonNullable<CreateJobBody['workflow']>; template?: never; params?: never }
    | { template: string; params?: Record<string, unknown>; workflow?: never }
  );

/** An input file: bytes to upload (sent as multipart), a URL to fetch, or base64 inline. */
export type JobInputFile = Blob | Uint8Array | { url: string } | { base64: string; filename: string };

export interface CreateJobOptions {
  /** Same key + same body within 24 h returns the original job instead of a new one. */
  idempotencyKey?: string | undefined;
  /** Input files by name; a LoadImage whose `image` equals the name loads it. */
  inputs?: Record<string, JobInputFile> | undefined;
  /** Webhook URL for job.completed / job.failed / job.cancelled. */
  webhook?: string | undefined;
  /** `Prefer: wait=N` (1–60 s): the answer carries the finished job when it ends within N s. */
  wait?: number | undefined;
  /**
   * With `wait`: a job that completes within it comes with its outputs' bytes (`Prefer: outputs=inline`): each
   * output that fits the answer's 8 MiB carries `data`, base64 (`Buffer.from(output.data, 'base64')`); the others
   * are downloaded as usual (`outputs.download`).
   */
  inlineOutputs?: boolean | undefined;
  signal?: AbortSignal | undefined;
}

export interface WaitOptions {
  /** Give up (ArrakisError `timeout`) after this long; default: wait as long as it takes. */
  timeoutMs?: number | undefined;
  signal?: AbortSignal | undefined;
}

export interface ListJobsOptions {
  status?: JobStatus | undefined;
  limit?: number | undefined;
  cursor?: string | undefined;
}

const TERMINAL: readonly JobStatus[] = ['completed', 'failed', 'cancelled'];

function isUpload(file: JobInputFile): file is Blob | Uint8Array {
  return file instanceof Uint8Array || (typeof Blob !== 'undefined' && file instanceof Blob);
}

function uploadName(name: string, file: Blob | Uint8Array): string {
  const given = typeof File !== 'undefined' && file instanceof File ? file.name : '';
  return given !== '' ? given : name;
}

/** The JSON body, or a multipart form (a `request` field + one file part per upload) when bytes are sent. */
function submission(
  request: CreateJobRequest,
  options: CreateJobOptions,
): { body?: unknown; form?: FormData } {
  const inline: Record<string, unknown> = { ...(request.inputs ?? {}) };
  const uploads: Array<[string, Blob | Uint8Array]> = [];
  for (const [name, file] of Object.entries(options.inputs ?? {})) {
    if (isUpload(file)) uploads.push([name, file]);
    else inline[name] = file;
  }
  const body = {
    ...request,
    ...(Object.keys(inline).length > 0 ? { inputs: inline } : {}),
    ...(options.webhook === undefined ? {} : { webhook: { url: options.webhook } }),
  };
  if (uploads.length === 0) return { body };
  const form = new FormData();
  form.append('request', JSON.stringify(body));
  for (const [name, file] of uploads) {
    const blob = file instanceof Uint8Array ? new Blob([new Uint8Array(file)]) : file;
    form.append(name, blob, uploadName(name, file));
  }
  return { form };
}

export class Jobs {
  constructor(private readonly transport: Transport) {}

  /** Submits a job (POST /v1/jobs); returns it queued, or finished when `wait` was given and it ended in time. */
  async create(request: CreateJobRequest, options: CreateJobOptions = {}): Promise<Job> {
    const headers: Record<string, string> = {};
    if (options.idempotencyKey !== undefined) headers['idempotency-key'] = options.idempotencyKey;
    if (options.wait !== undefined) {
      const wait = `wait=${Math.max(1, Math.min(60, Math.round(options.wait)))}`;
      headers.prefer = options.inlineOutputs === true ? `${wait}, outputs=inline` : wait;
    }
    const { data } = await this.transport.json('POST', '/v1/jobs', jobSchema, {
      ...submission(request, options),
      headers,
      signal: options.signal,
    });
    return data;
  }

  /** GET /v1/jobs/{id}. */
  async get(id: string, options: { signal?: AbortSignal } = {}): Promise<Job> {
    return (await this.transport.json('GET', `/v1/jobs/${encodeURIComponent(id)}`, jobSchema, options)).data;
  }

  /** One page of the acting user's jobs, newest first; pass `next_cursor` back as `cursor`. */
  async list(options: ListJobsOptions = {}): Promise<JobList> {
    const query = new URLSearchParams();
    if (options.status !== undefined) query.set('status', options.status);
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    if (options.cursor !== undefined) query.set('cursor', options.cursor);
    const qs = query.toString();
    return (await this.transport.json('GET', `/v1/jobs${qs === '' ? '' : `?${qs}`}`, jobListSchema)).data;
  }

  /** Every job of the acting user, page by page. */
  async *all(options: Omit<ListJobsOptions, 'cursor'> = {}): AsyncGenerator<Job> {
    let cursor: string | undefined;
    do {
      const page = await this.list({ ...options, cursor });
      yield* page.data;
      cursor = page.next_cursor ?? undefined;
    } while (cursor !== undefined);
  }

  /** DELETE /v1/jobs/{id}: the job cancelled (was queued) or with `cancel_requested` (was running). */
  async cancel(id: string): Promise<Job> {
    return (await this.transport.json('DELETE', `/v1/jobs/${encodeURIComponent(id)}`, jobSchema)).data;
  }

  /** The job's events as they happen; see StreamOptions. */
  stream(id: string, options: StreamOptions = {}): AsyncGenerator<StreamedJobEvent, void, undefined> {
    return streamJobEvents(this.transport, id, options);
  }

  /** Resolves with the job once it has ended (completed, failed or cancelled), following its event stream. */
  async wait(id: string, options: WaitOptions = {}): Promise<Job> {
    const signals = [
      options.signal,
      options.timeoutMs === undefined ? undefined : AbortSignal.timeout(options.timeoutMs),
    ];
    const present = signals.filter((s): s is AbortSignal => s !== undefined);
    const signal = present.length === 0 ? undefined : AbortSignal.any(present);
    const job = await this.get(id, signal === undefined ? {} : { signal });
    if (TERMINAL.includes(job.status)) return job;
    try {
      for await (const event of this.stream(id, { signal })) if (event.event === 'done') break;
    } catch (err) {
      throw err instanceof ArrakisError ? err : networkError(err, signal);
    }
    return await this.get(id, signal === undefined ? {} : { signal });
  }
}

export class Outputs {
  constructor(private readonly transport: Transport) {}

  /**
   * The bytes of output `index` of job `id`. A 302 to a presigned storage URL is followed without the API
   * credentials (a presigned URL carries its own).
   */
  async download(id: string, index: number, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    const path = `/v1/jobs/${encodeURIComponent(id)}/outputs/${index}`;
    let res = await this.transport.send('GET', path, { redirect: 'manual', signal: options.signal });
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location !== null) {
      await res.body?.cancel();
      res = await this.transport.fetchUnauthenticated(
        new URL(location, this.transport.url(path)).toString(),
        options.signal,
      );
    } else if (res.type === 'opaqueredirect') {
      // Browsers hide manual redirects; let them follow (they drop credentials across origins themselves).
      res = await this.transport.send('GET', path, { signal: options.signal });
    }
    if (!res.ok) throw await errorFromResponse(res);
    return new Uint8Array(await res.arrayBuffer());
  }
}
