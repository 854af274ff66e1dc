/**
 * What model switches cost on comfy-lite: a txt2img job (checkpoint → ArrakisSample 20 × 5 ms → SaveImage) over
 * the sequence A A B A C A, with the classic cache, `--cache-lru 8` and `--cache-lru 64`, timed from the
 * submission to the final `executing` with node null (the time a client waits), and the loads each paid.
 * Run: node --import tsx bench/comfy-lite-models.ts [--load-ms 1000]
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { startComfyLite } from '../src/comfy-lite/server.js';

const loadArg = process.argv.indexOf('--load-ms');
const LOAD_MS = loadArg >= 0 ? Number(process.argv[loadArg + 1]) : 1000;
const SEQUENCE = ['a', 'a', 'b', 'a', 'c', 'a'];

let seed = 0;
const job = (ckpt: string): Record<string, unknown> => ({
  '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: `${ckpt}.safetensors` } },
  '2': {
    class_type: 'ArrakisSample',
    inputs: { model: ['1', 0], width: 512, height: 512, steps: 20, seconds_per_step: 0.005, seed: ++seed },
  },
  '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: `bench/${seed}` } },
});

async function scenario(name: string, modelsDir: string, cacheLru: number): Promise<void> {
  const server = await startComfyLite({ port: 0, modelsDir, modelLoadMs: LOAD_MS, cacheLru });
  let loads = 0;
  server.events.on('load', () => loads++);
  const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws?clientId=bench`);
  await new Promise((resolve) => ws.once('open', resolve));
  const cells: string[] = [];
  for (const ckpt of SEQUENCE) {
    const before = loads;
    const started = performance.now();
    const res = await fetch(`${server.url}/prompt`, {
      method: 'POST',
      body: JSON.stringify({ prompt: job(ckpt), client_id: 'bench' }),
    });
    const { prompt_id: id } = (await res.json()) as { prompt_id: string };
    await new Promise<void>((resolve) => {
      const on = (data: unknown): void => {
        const f = JSON.parse(String(data)) as { type: string; data: { node?: unknown; prompt_id?: string } };
        if (f.type !== 'executing' || f.data.node !== null || f.data.prompt_id !== id) return;
        ws.off('message', on);
        resolve();
      };
      ws.on('message', on);
    });
    const ms = performance.now() - started;
    cells.push(`${ckpt}:${ms.toFixed(0)}ms${loads > before ? ' (load)' : ''}`);
  }
  process.stdout.write(`${name.padEnd(16)} ${cells.join('  ')}  loads=${loads}\n`);
  ws.close();
  await server.close();
}

const root = await mkdtemp(join(tmpdir(), 'bench-lite-models-'));
try {
  await mkdir(join(root, 'checkpoints'), { recursive: true });
  for (const m of ['a', 'b', 'c'])
    await writeFile(join(root, 'checkpoints', `${m}.safetensors`), `fake ${m}`);
  process.stdout.write(`comfy-lite, --model-load-ms ${LOAD_MS}, sequence ${SEQUENCE.join(' ')}\n`);
  await scenario('classic cache', root, 0);
  await scenario('--cache-lru 8', root, 8);
  await scenario('--cache-lru 64', root, 64);
} finally {
  await rm(root, { recursive: true, force: true });
}
