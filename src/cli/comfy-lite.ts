import type { Command } from 'commander';

/** Placeholder until the `comfy-lite` command lands. */
export function register(program: Command): void {
  program.command('comfy-lite').description('not built yet').action(() => {
    throw new Error('arrakis comfy-lite is not built yet');
  });
}
