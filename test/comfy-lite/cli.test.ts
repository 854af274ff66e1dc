/** `arrakis comfy-lite` as a process: the ready line on --port 0, a working server, a clean exit on SIGTERM. */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../../bin/arrakis.mjs', import.meta.url));

/** Starts `arrakis comfy-lite ARGS` and resolves with its URL once it prints the ready line. */
async function launch(args: string[]) {
  const child = spawn(process.execPath, [bin, 'comfy-lite', '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out);
    });
    child.once('exit', () => reject(new Error(`exited before ready: ${out}`)));
  });
  return { child, exited, line, url: line.trim().split(' ').at(-1)! };
}

describe('arrakis comfy-lite', () => {
  it('prints the ready line with the real port, serves, and exits 0 on SIGTERM', async () => {
    const { child, exited, url, line } = await launch([]);
    expect(line).toMatch(/^comfy-lite listening on http:\/\/127\.0\.0\.1:(\d+)\n$/);
    expect(url.endsWith(':0')).toBe(false);
    const stats = await fetch(`${url}/system_stats`);
    expect(stats.status).toBe(200);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('serves a --models-dir, loads in --model-load-ms and accepts --cache-lru', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lite-cli-models-'));
    try {
      await mkdir(join(dir, 'checkpoints'), { recursive: true });
      await writeFile(join(dir, 'checkpoints', 'only.safetensors'), 'fake weights');
      const { child, exited, url } = await launch([
        '--models-dir',
        dir,
        '--model-load-ms',
        '400',
        '--cache-lru',
        '8',
      ]);
      const info = (await (await fetch(`${url}/object_info/CheckpointLoaderSimple`)).json()) as {
        CheckpointLoaderSimple: { input: { required: { ckpt_name: unknown[] } } };
      };
      expect(info.CheckpointLoaderSimple.input.required.ckpt_name[0]).toEqual(['only.safetensors']);
      const prompt = {
        '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'only.safetensors' } },
        '2': {
          class_type: 'ArrakisSample',
          inputs: { model: ['1', 0], width: 16, height: 16, steps: 1, seconds_per_step: 0, seed: 1 },
        },
        '3': { class_type: 'PreviewImage', inputs: { images: ['2', 0] } },
      };
      const started = Date.now();
      const posted = await fetch(`${url}/prompt`, { method: 'POST', body: JSON.stringify({ prompt }) });
      const { prompt_id: id } = (await posted.json()) as { prompt_id: string };
      let entry: { status?: { status_str: string } } | undefined;
      while (entry === undefined) {
        await new Promise((r) => setTimeout(r, 50));
        entry = ((await (await fetch(`${url}/history/${id}`)).json()) as Record<string, typeof entry>)[id];
      }
      expect(entry.status?.status_str).toBe('success');
      expect(Date.now() - started).toBeGreaterThanOrEqual(400);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
