/** Arrakis commands as OS processes, for tests that need real process boundaries (kill, restart, no node_modules). */
import { spawn, type ChildProcess } from 'node:child_process';

/** The `arrakis` bin (runs the sources through tsx). */
export const ARRAKIS_BIN = new URL('../../bin/arrakis.mjs', import.meta.url).pathname;

/** Resolves with the match once `proc` has printed `pattern` on stdout; rejects if it ends first. */
export async function readyLine(proc: ChildProcess, pattern: RegExp): Promise<RegExpExecArray> {
  let out = '';
  for await (const chunk of proc.stdout!) {
    out += String(chunk);
    const m = pattern.exec(out);
    if (m !== null) return m;
  }
  throw new Error(`process ended before printing ${pattern}: ${out}`);
}

/** Starts `arrakis comfy-lite --port 0` (plus `args`), pushes it onto `children`, and resolves once it listens. */
export async function spawnComfyLite(
  children: ChildProcess[],
  args: string[] = [],
): Promise<{ url: string; proc: ChildProcess }> {
  const proc = spawn(process.execPath, [ARRAKIS_BIN, 'comfy-lite', '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(proc);
  const url = (await readyLine(proc, /comfy-lite listening on (http:\/\/\S+)/))[1]!;
  return { url, proc };
}
