/** `arrakis comfy-lite`: the built-in ComfyUI-protocol server on its own. */
import type { Command } from 'commander';
import { z } from 'zod';
import { DEFAULT_MAX_PIXELS } from '../comfy-lite/pixel-budget.js';
import { startComfyLite } from '../comfy-lite/server.js';

const Options = z.object({
  host: z.string().min(1).describe('bind address'),
  port: z.coerce.number().int().min(0).max(65535).describe('TCP port; 0 picks a free one'),
  dataDir: z
    .string()
    .min(1)
    .optional()
    .describe('folder holding input/, output/ and temp/ (default: a temporary folder)'),
  maxPixels: z.coerce
    .number()
    .int()
    .min(1)
    .max(2 ** 40)
    .describe('largest image batch a node may create, in pixels (width × height × batch)'),
  exitWithParent: z.boolean().optional(),
  modelsDir: z
    .string()
    .min(1)
    .optional()
    .describe(
      "ComfyUI's models/ folder: checkpoints/, loras/, vae/, ... (default: models/ in the data folder)",
    ),
  modelLoadMs: z.coerce.number().int().min(0).describe('milliseconds one model file load takes'),
  cacheLru: z.coerce
    .number()
    .int()
    .min(0)
    .describe("ComfyUI's --cache-lru: keep up to N node results (0: the classic cache, last prompt only)"),
});

/**
 * Waits for SIGTERM or SIGINT, or (with `--exit-with-parent`) for stdin to close: a parent that dies without
 * stopping its child (SIGKILL, OOM) closes the pipe, so the child never outlives it.
 */
function untilStop(withParent: boolean): Promise<string> {
  return new Promise((resolve) => {
    const on = (why: string): void => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve(why);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
    if (withParent) {
      process.stdin.on('end', () => on('parent gone'));
      process.stdin.on('error', () => on('parent gone'));
      process.stdin.resume();
    }
  });
}

export function register(program: Command): void {
  program
    .command('comfy-lite')
    .description('run the built-in ComfyUI-protocol server (image nodes, loaders over fake model files)')
    .option('--host <host>', 'bind address', '127.0.0.1')
    .option('--port <port>', 'TCP port (0 picks a free port)', '8188')
    .option('--data-dir <dir>', 'folder for input/, output/ and temp/ (default: a temporary folder)')
    .option(
      '--max-pixels <n>',
      'largest image batch a node may create, width × height × batch (a prompt may hold 4× that)',
      String(DEFAULT_MAX_PIXELS),
    )
    .option('--exit-with-parent', 'exit when stdin closes (how serve runs its comfy-lite children)')
    .option(
      '--models-dir <dir>',
      "ComfyUI's models/ layout: checkpoints/, loras/, vae/, ... (default: DATA_DIR/models)",
    )
    .option('--model-load-ms <ms>', 'time one model file load takes', '0')
    .option(
      '--cache-lru <n>',
      "ComfyUI's --cache-lru: keep up to N node results (0 keeps the last prompt's)",
      '0',
    )
    .action(async (raw: unknown) => {
      const parsed = Options.safeParse(raw);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new Error(
          `invalid --${String(issue?.path[0] ?? 'option').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: ${issue?.message ?? 'bad value'}`,
        );
      }
      const { host, port, dataDir, maxPixels, exitWithParent, modelsDir, modelLoadMs, cacheLru } =
        parsed.data;
      const signal = untilStop(exitWithParent === true);
      const server = await startComfyLite({
        host,
        port,
        maxPixels,
        modelLoadMs,
        cacheLru,
        ...(dataDir === undefined ? {} : { dataDir }),
        ...(modelsDir === undefined ? {} : { modelsDir }),
      });
      process.stdout.write(`comfy-lite listening on ${server.url}\n`);
      await signal;
      await server.close();
      // stdin, read for the parent's end, would otherwise keep the process alive.
      if (exitWithParent === true) process.stdin.destroy();
    });
}
