/** How the `arrakis` command and the single-file agent end: one exit-code convention for both. */
import { CommanderError, type Command } from 'commander';

/**
 * Parses `argv` with `program` (built with `exitOverride()`). A usage error exits 2 (commander has printed
 * it; `--help` and `--version` exit 0); any other error prints `<name>: <message>` and exits 1.
 */
export async function runProgram(program: Command, argv: string[], name: string): Promise<void> {
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    process.stderr.write(`${name}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
