import type { Command } from 'commander';

/** Placeholder until the `dev` command lands. */
export function register(program: Command): void {
  program.command('dev').description('not built yet').action(() => {
    throw new Error('arrakis dev is not built yet');
  });
}
