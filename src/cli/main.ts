/** The `arrakis` command line: one file per command, each exporting `register(program)`. */
import { Command } from 'commander';
import { register as registerAdmin } from './admin.js';
import { register as registerAgent } from './agent.js';
import { register as registerBench } from './bench.js';
import { register as registerComfyLite } from './comfy-lite.js';
import { register as registerDev } from './dev.js';
import { register as registerMigrate } from './migrate.js';
import { runProgram } from './run-program.js';
import { register as registerRun } from './run.js';
import { register as registerServe } from './serve.js';
import { register as registerSimulate } from './simulate.js';
import { packageVersion } from './version.js';

export async function main(argv: string[]): Promise<void> {
  const program = new Command('arrakis')
    .description('Multi-tenant job API and GPU fleet control plane in front of ComfyUI')
    .version(packageVersion(), '-V, --version', 'print the version')
    .exitOverride();
  for (const register of [
    registerDev,
    registerServe,
    registerComfyLite,
    registerAgent,
    registerMigrate,
    registerSimulate,
    registerRun,
    registerAdmin,
    registerBench,
  ]) {
    register(program);
  }
  await runProgram(program, argv, 'arrakis');
}
