/**
 * Entry point of the single-file agent (`npm run build:agent` → dist/arrakis-agent.mjs): only the agent, so
 * the bundle carries none of the control plane (no database drivers, no image library, no cloud SDKs) and
 * runs with plain `node` from any folder: `node arrakis-agent.mjs --server URL --token T --comfyui URL`.
 */
import { Command } from 'commander';
import { runAgent, withAgentOptions } from './agent.js';
import { runProgram } from './run-program.js';

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
  await runProgram(program, argv, 'arrakis-agent');
}

await main(process.argv);
