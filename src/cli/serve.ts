import type { Command } from 'commander';

/** Placeholder until the `serve` command lands. */
export function register(program: Command): void {
  program.command('serve').description('not built yet').action(() => {
    throw new Error('arrakis serve is not built yet');
  });
}
