/**
 * A text/event-stream parser (WHATWG HTML "server-sent events" interpretation) over a fetch body, so the
 * client can send headers (auth, Last-Event-ID) that the browser's EventSource cannot.
 */

export interface SseMessage {
  /** The `id:` field, or null when the message had none. */
  id: string | null;
  event: string;
  data: string;
  /** The `retry:` reconnection time sent with this message, if any. */
  retry: number | null;
}

interface Pending {
  id: string | null;
  event: string;
  data: string[];
  retry: number | null;
}

const fresh = (): Pending => ({ id: null, event: '', data: [], retry: null });

function applyLine(line: string, pending: Pending): void {
  if (line.startsWith(':')) return;
  const colon = line.indexOf(':');
  const field = colon === -1 ? line : line.slice(0, colon);
  let value = colon === -1 ? '' : line.slice(colon + 1);
  if (value.startsWith(' ')) value = value.slice(1);
  if (field === 'event') pending.event = value;
  else if (field === 'data') pending.data.push(value);
  else if (field === 'id' && !value.includes('\0')) pending.id = value;
  else if (field === 'retry' && /^\d+$/.test(value)) pending.retry = Number(value);
}

/** Yields each dispatched message of `body`; returns when the stream ends. */
export async function* parseSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseMessage> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let pending = fresh();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      // A trailing \r may be the first half of a \r\n split across chunks: keep it for the next one.
      const holdCr = buffer.endsWith('\r');
      const lines = (holdCr ? buffer.slice(0, -1) : buffer).split(/\r\n|\r|\n/);
      buffer = (lines.pop() ?? '') + (holdCr ? '\r' : '');
      for (const line of lines) {
        if (line !== '') {
          applyLine(line, pending);
          continue;
        }
        // A blank line dispatches; a block of only comments or only `retry:` still reports its retry.
        if (pending.data.length > 0 || pending.retry !== null) {
          yield {
            id: pending.id,
            event: pending.event || 'message',
            data: pending.data.join('\n'),
            retry: pending.retry,
          };
        }
        pending = fresh();
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}
