/**
 * `jobs.stream(id)`: the job's Server-Sent Events as typed `{ event, data }` values. A dropped connection (or a
 * server that ends the stream while draining) is resumed with `Last-Event-ID`, so no event is lost or repeated;
 * the iterator returns after `done`.
 */
import { jobEventSchema, type JobEvent } from '../api/wire/events.js';
import { ArrakisError } from './errors.js';
import { parseSse } from './sse.js';
import { errorFromResponse, networkError, type Transport } from './transport.js';

/** A job event with its log sequence number (null on the snapshot a fresh stream starts with). */
export type StreamedJobEvent = JobEvent & { id: number | null };

export interface StreamOptions {
  /** Resume after this event id (the `id` of the last event you handled). */
  lastEventId?: number | undefined;
  signal?: AbortSignal | undefined;
  /** Wait before reconnecting; default: the server's `retry:` advice (2 s), else 1 s. */
  reconnectDelayMs?: number | undefined;
  /** Consecutive failed connections before giving up (default 10); any received event resets the count. */
  maxReconnects?: number | undefined;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) return reject(networkError(signal.reason, signal));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(networkError(signal?.reason, signal));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function toEvent(event: string, data: string, id: string | null): StreamedJobEvent | null {
  if (!['status', 'progress', 'output', 'done'].includes(event)) return null;
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    throw new ArrakisError({
      status: 200,
      code: 'invalid_response',
      detail: `Event ${event} carries no JSON.`,
    });
  }
  const parsed = jobEventSchema.safeParse({ event, data: json });
  if (!parsed.success) {
    throw new ArrakisError({
      status: 200,
      code: 'invalid_response',
      detail: `Event ${event}: ${parsed.error.message}`,
    });
  }
  return { ...parsed.data, id: id === null || !/^\d+$/.test(id) ? null : Number(id) };
}

/** Whether a failed connection is worth retrying: no answer, rate limited, or a server-side failure. */
function retryable(err: unknown): boolean {
  if (!(err instanceof ArrakisError)) return true;
  if (err.code === 'aborted' || err.code === 'timeout' || err.code === 'invalid_response') return false;
  return err.status === 0 || err.status === 429 || err.status >= 500;
}

/** Streams the events of job `id`; see StreamOptions. */
export async function* streamJobEvents(
  transport: Transport,
  id: string,
  options: StreamOptions = {},
): AsyncGenerator<StreamedJobEvent, void, undefined> {
  let last = options.lastEventId ?? 0;
  let serverRetryMs: number | null = null;
  let failures = 0;
  const maxReconnects = options.maxReconnects ?? 10;
  for (;;) {
    let retryAfterMs: number | null = null;
    let received = false;
    try {
      const res = await transport.send('GET', `/v1/jobs/${encodeURIComponent(id)}/events`, {
        headers: { accept: 'text/event-stream', ...(last > 0 ? { 'last-event-id': String(last) } : {}) },
        signal: options.signal,
      });
      if (!res.ok || res.body === null) throw await errorFromResponse(res);
      for await (const message of parseSse(res.body)) {
        if (message.retry !== null) serverRetryMs = message.retry;
        const event = toEvent(message.event, message.data, message.id);
        if (event === null) continue;
        received = true;
        failures = 0;
        if (event.id !== null) last = event.id;
        yield event;
        if (event.event === 'done') return;
      }
      // Ended without `done`: the server is draining; resume (on another replica behind the balancer).
      if (!received && ++failures > maxReconnects) {
        throw new ArrakisError({
          status: 0,
          code: 'network_error',
          detail: 'The event stream keeps ending with no events.',
        });
      }
    } catch (err) {
      const error = err instanceof ArrakisError ? err : networkError(err, options.signal);
      if (options.signal?.aborted === true || !retryable(error) || (!received && ++failures > maxReconnects))
        throw error;
      if (error.retryAfter !== null) retryAfterMs = error.retryAfter * 1000;
    }
    await sleep(retryAfterMs ?? options.reconnectDelayMs ?? serverRetryMs ?? 1000, options.signal);
  }
}
