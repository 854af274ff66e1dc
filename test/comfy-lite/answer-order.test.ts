/**
 * `POST /prompt` is answered before any WebSocket frame about that prompt, as real ComfyUI does (0 of 200 runs
 * otherwise). A client that starts listening only once it holds the answer (a normal way to write one) must still
 * see every frame of the prompt, down to the final `executing` with node null, for fast and for cached prompts.
 */
import { request } from 'node:http';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ComfyLiteServer } from '../../src/comfy-lite/server.js';
import { startServer } from './helpers.js';

type Text = { type: string; data: Record<string, unknown> };

/** A socket whose frames count only once `listening` is set; frames before that are kept apart as `early`. */
class LateListener {
  listening = false;
  readonly early: Text[] = [];
  readonly frames: Text[] = [];
  private wake: (() => void) | null = null;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const frame = JSON.parse(String(data)) as Text;
      (this.listening ? this.frames : this.early).push(frame);
      this.wake?.();
    });
  }

  async until(match: (f: Text) => boolean, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.frames.some(match)) {
      if (Date.now() > deadline) throw new Error('frame not received: the client would hang');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 100);
        this.wake = () => (clearTimeout(t), resolve());
      });
    }
  }
}

let server: ComfyLiteServer;
let listener: LateListener;
beforeAll(async () => {
  server = await startServer();
  const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws?clientId=late`);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  listener = new LateListener(ws);
  // The greeting `status` frame arrives on connect, before any prompt.
  await new Promise((r) => setTimeout(r, 100));
  listener.early.length = 0;
});
afterAll(async () => {
  listener.ws.close();
  await server.close();
});

/** Posts a prompt with plain node:http and resolves when the whole answer has been read. */
function post(body: unknown): Promise<{ status: number; json: { prompt_id: string } }> {
  return new Promise((resolve, reject) => {
    const req = request(`${server.url}/prompt`, { method: 'POST' }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

async function submitThenListen(prompt: unknown): Promise<string[]> {
  listener.listening = false;
  listener.frames.length = 0;
  const answer = await post({ prompt, client_id: 'late' });
  listener.listening = true;
  expect(answer.status).toBe(200);
  const id = answer.json.prompt_id;
  await listener.until((f) => f.type === 'executing' && f.data.node === null && f.data.prompt_id === id);
  expect(listener.early).toEqual([]);
  return listener.frames.map((f) => f.type);
}

const quick = (tag: number, prefix: string): Record<string, unknown> => ({
  '1': { class_type: 'EmptyImage', inputs: { width: 4, height: 4, batch_size: 1, color: tag } },
  '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: prefix } },
});

describe('POST /prompt answers before any frame about the prompt', () => {
  it('for fast prompts', async () => {
    for (let i = 0; i < 25; i++) {
      const types = await submitThenListen(quick(i, `order/fast${i}`));
      expect(types.slice(0, 3)).toEqual(['status', 'status', 'execution_start']);
      expect(types.at(-1)).toBe('executing');
      expect(types).toContain('execution_success');
    }
  });

  it('for cached prompts (every node served from the cache)', async () => {
    const prompt = quick(99, 'order/cached');
    await submitThenListen(prompt);
    for (let i = 0; i < 25; i++) {
      const types = await submitThenListen(prompt);
      expect(types).toEqual([
        'status',
        'status',
        'execution_start',
        'execution_cached',
        'executed',
        'progress_state',
        'execution_success',
        'status',
        'executing',
      ]);
    }
  });
});
