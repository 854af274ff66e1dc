/** Arrakis commands as OS processes, for tests that need real process boundaries (kill, restart, no node_modules). */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The `arrakis` bin (runs the sources through tsx). */
export const ARRAKIS_BIN = fileURLToPath(new URL('../../bin/arrakis.mjs', import.meta.url));

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

/**
 * Writes `dir/fleet.yaml`: one `local` pool of the process provider whose workers are `arrakis comfy-lite`
 * processes (`args` appended to the command). `pool` and `process` are the keys of those two sections.
 */
export function writeComfyLiteFleet(
  dir: string,
  pool: Record<string, number>,
  processKeys: Record<string, string | number> = {},
  args = '',
): string {
  const file = join(dir, 'fleet.yaml');
  const command = `${process.execPath} ${ARRAKIS_BIN} comfy-lite --port {port}${args === '' ? '' : ` ${args}`}`;
  const entries = (o: Record<string, string | number>, indent: string): string[] =>
    Object.entries(o).map(([k, v]) => `${indent}${k}: ${JSON.stringify(v)}`);
  writeFileSync(
    file,
    [
      'pools:',
      '  local:',
      '    provider: process',
      ...entries(pool, '    '),
      '    process:',
      ...entries({ command, ...processKeys }, '      '),
      '',
    ].join('\n'),
  );
  return file;
}
