/** `arrakis comfy-lite` as a process: the ready line on --port 0, a working server, a clean exit on SIGTERM. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../../bin/arrakis.mjs', import.meta.url));

describe('arrakis comfy-lite', () => {
  it('prints the ready line with the real port, serves, and exits 0 on SIGTERM', async () => {
    const child = spawn(process.execPath, [bin, 'comfy-lite', '--port', '0'], {
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
    expect(line).toMatch(/^comfy-lite listening on http:\/\/127\.0\.0\.1:(\d+)\n$/);
    const url = line.trim().split(' ').at(-1)!;
    expect(url.endsWith(':0')).toBe(false);
    const stats = await fetch(`${url}/system_stats`);
    expect(stats.status).toBe(200);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
