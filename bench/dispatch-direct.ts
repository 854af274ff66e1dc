/**
 * The floor of bench/dispatch: a small canonical ComfyUI protocol client, written the way ComfyUI's own
 * script_examples/websockets_api_example.py does it, and sharing no code with Arrakis's client (src/comfy), so
 * that making Arrakis's client faster never moves the floor it is measured against.
 *
 * One WebSocket with a fixed clientId, opened once and kept across runs. Per run: `POST /prompt` with that
 * client_id, wait for `executing` with `node: null` for the prompt id the answer names (frames that arrive
 * before the answer are kept, as the example's blocking socket keeps them unread), `GET /history/{id}`, then
 * `GET /view` for each image of each output node.
 */
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';

type Mark = (stage: string) => void;

interface HistoryImages {
  outputs?: Record<string, { images?: Array<{ filename: string; subfolder: string; type: string }> }>;
}

export class DirectComfyClient {
  private readonly clientId = randomUUID();
  /** Prompt ids whose final `executing` null arrived, and who waits for which. */
  private readonly finished = new Set<string>();
  private readonly waiting = new Map<string, () => void>();
  private ws: WebSocket | null = null;

  constructor(
    private readonly url: string,
    private readonly mark: Mark = () => undefined,
  ) {}

  async connect(): Promise<void> {
    const ws = new WebSocket(`${this.url.replace(/^http/, 'ws')}/ws?clientId=${this.clientId}`);
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const message = JSON.parse(String(data)) as { type?: string; data?: Record<string, unknown> };
      if (message.type !== 'executing' || message.data?.node !== null) return;
      const promptId = message.data.prompt_id;
      if (typeof promptId !== 'string') return;
      this.mark('client: ws executing null');
      this.finished.add(promptId);
      this.waiting.get(promptId)?.();
    });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    this.ws = ws;
  }

  /** Runs one workflow to its output bytes; returns the number of bytes read. */
  async run(workflow: unknown): Promise<number> {
    const answer = await fetch(`${this.url}/prompt`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: workflow, client_id: this.clientId }),
    });
    if (!answer.ok) throw new Error(`POST /prompt answered ${answer.status}: ${await answer.text()}`);
    const { prompt_id: promptId } = (await answer.json()) as { prompt_id: string };
    await this.executed(promptId);
    const history = (await (await fetch(`${this.url}/history/${promptId}`)).json()) as Record<
      string,
      HistoryImages
    >;
    this.mark('client: prompt outcome known');
    let bytes = 0;
    for (const output of Object.values(history[promptId]?.outputs ?? {})) {
      for (const image of output.images ?? []) {
        const query = new URLSearchParams({
          filename: image.filename,
          subfolder: image.subfolder,
          type: image.type,
        });
        bytes += (await (await fetch(`${this.url}/view?${query}`)).arrayBuffer()).byteLength;
      }
    }
    if (bytes === 0) throw new Error(`prompt ${promptId} gave no image`);
    return bytes;
  }

  private async executed(promptId: string): Promise<void> {
    if (!this.finished.has(promptId)) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no executing null for ${promptId}`)), 60_000);
        this.waiting.set(promptId, () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    this.finished.delete(promptId);
    this.waiting.delete(promptId);
  }

  close(): void {
    this.ws?.close();
  }
}
