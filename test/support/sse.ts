/** A tiny Server-Sent Events reader for tests. */
import { expect } from 'vitest';

/** Reads an SSE stream until `done` or the deadline; returns the events. */
export async function readSse(
  url: string,
  headers: Record<string, string>,
  timeoutMs = 10_000,
): Promise<Array<{ id: string; event: string; data: any }>> {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(timeoutMs) });
  if (res.status !== 200 || res.body === null) throw new Error(`SSE ${res.status}`);
  expect(res.headers.get('content-type')).toContain('text/event-stream');
  const events: Array<{ id: string; event: string; data: any }> = [];
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of res.body) {
    buffer += decoder.decode(chunk, { stream: true });
    let idx;
    while ((idx = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, idx);
      buffer = buffer.slice(idx + 2);
      const fields = Object.fromEntries(
        block
          .split('\n')
          .filter((l) => !l.startsWith(':') && l.includes(':'))
          .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]),
      );
      if (fields.event !== undefined)
        events.push({ id: fields.id ?? '', event: fields.event, data: JSON.parse(fields.data ?? 'null') });
    }
    if (events.some((e) => e.event === 'done')) break;
  }
  return events;
}
