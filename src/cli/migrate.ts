import type { Command } from 'commander';

/** Placeholder until the `migrate` command lands. */
export function register(program: Command): void {
  program.command('migrate').description('not built yet').action(() => {
    throw new Error('arrakis migrate is not built yet');
  });
}
