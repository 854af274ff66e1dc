/** The client's text/event-stream parser: the WHATWG rules on fields, line endings split across chunks, comments. */
import { describe, expect, it } from 'vitest';
import { parseSse, type SseMessage } from '../../src/client/sse.js';

async function parse(chunks: string[]): Promise<SseMessage[]> {
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const c of chunks) controller.enqueue(encoder.encode(c));
      controller.close();
    },
  });
  const out: SseMessage[] = [];
  for await (const m of parseSse(body)) out.push(m);
  return out;
}

describe('parseSse', () => {
  it('dispatches on blank lines, joins data lines and skips comments', async () => {
    const messages = await parse([
      ': hello\nretry: 2000\n\n',
      'id: 1\nevent: status\ndata: {"a":\ndata: 1}\n\n',
    ]);
    expect(messages).toEqual([
      { id: null, event: 'message', data: '', retry: 2000 },
      { id: '1', event: 'status', data: '{"a":\n1}', retry: null },
    ]);
  });

  it('handles CRLF split across chunks and fields split mid-line', async () => {
    const messages = await parse(['id: 7\r', '\nevent: prog', 'ress\r\ndata:{"v":1}\r\n\r', '\n']);
    expect(messages).toEqual([{ id: '7', event: 'progress', data: '{"v":1}', retry: null }]);
  });

  it('drops an unterminated message at the end of the stream', async () => {
    expect(await parse(['event: done\ndata: {}\n'])).toEqual([]);
  });
});
