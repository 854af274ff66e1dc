/**
 * Entry point of the single-file agent (`npm run build:agent` → dist/arrakis-agent.mjs): only the agent, so
 * the bundle carries none of the control plane (no database drivers, no image library, no cloud SDKs) and
 * runs with plain `node` from any folder: `node arrakis-agent.mjs --server URL --token T --comfyui URL`.
 */
import { Command, CommanderError } from 'commander';
import { runAgent, withAgentOptions } from './agent.js';

declare const ARRAKIS_VERSION: string;

async function main(argv: string[]): Promise<void> {
  const program = withAgentOptions(
    new Command('arrakis-agent')
      .description(
        'Arrakis worker agent: runs jobs from a control plane on a ComfyUI that can only connect out',
      )
      .version(typeof ARRAKIS_VERSION === 'string' ? ARRAKIS_VERSION : 'dev')
      .exitOverride(),
  ).action(async (raw: Record<string, unknown>) => {
    await runAgent(raw);
  });
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    process.stderr.write(`arrakis-agent: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}

await main(process.argv);
