import type { Command } from 'commander';

/** Placeholder until the `simulate` command lands. */
export function register(program: Command): void {
  program.command('simulate').description('not built yet').action(() => {
    throw new Error('arrakis simulate is not built yet');
  });
}
