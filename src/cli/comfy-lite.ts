/** `arrakis comfy-lite`: the built-in ComfyUI-protocol server on its own. */
import type { Command } from 'commander';
import { z } from 'zod';
import { startComfyLite } from '../comfy-lite/server.js';

const Options = z.object({
  host: z.string().min(1).describe('bind address'),
  port: z.coerce.number().int().min(0).max(65535).describe('TCP port; 0 picks a free one'),
  dataDir: z
    .string()
    .min(1)
    .optional()
    .describe('folder holding input/, output/ and temp/ (default: a temporary folder)'),
});

/** Waits for SIGTERM or SIGINT. */
function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals): void => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve(signal);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}

export function register(program: Command): void {
  program
    .command('comfy-lite')
    .description('run the built-in ComfyUI-protocol server (image nodes, no models)')
    .option('--host <host>', 'bind address', '127.0.0.1')
    .option('--port <port>', 'TCP port (0 picks a free port)', '8188')
    .option('--data-dir <dir>', 'folder for input/, output/ and temp/ (default: a temporary folder)')
    .action(async (raw: unknown) => {
      const parsed = Options.safeParse(raw);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new Error(
          `invalid --${String(issue?.path[0] ?? 'option').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: ${issue?.message ?? 'bad value'}`,
        );
      }
      const { host, port, dataDir } = parsed.data;
      const signal = untilSignal();
      const server = await startComfyLite({ host, port, ...(dataDir === undefined ? {} : { dataDir }) });
      process.stdout.write(`comfy-lite listening on ${server.url}\n`);
      await signal;
      await server.close();
    });
}
