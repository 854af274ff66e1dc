import type { Command } from 'commander';

/** Placeholder until the `agent` command lands. */
export function register(program: Command): void {
  program.command('agent').description('not built yet').action(() => {
    throw new Error('arrakis agent is not built yet');
  });
}
