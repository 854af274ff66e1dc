import type { Command } from 'commander';
import { addSettingOptions, loadConfig, type Config } from '../config/load.js';
import type { ControlPlane } from '../runtime/control-plane.js';

/** Runs a control plane until SIGINT/SIGTERM, then shuts down gracefully. */
export async function runServe(
  config: Config,
  afterListening?: (cp: ControlPlane) => Promise<void>,
  options: { prettyLog?: boolean } = {},
): Promise<void> {
  const { startControlPlane } = await import('../runtime/control-plane.js');
  // A closed stdout (a pipe whose reader went away) must not crash a running control plane.
  process.stdout.on('error', () => {});
  // Listening for signals before starting: a SIGTERM while workers start (comfy-lite children spawning) still
  // shuts down cleanly once the start completes, instead of killing serve and orphaning them.
  const stopped = new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  const cp = await startControlPlane(config, {
    prettyLog: options.prettyLog,
    onListening: (url) => process.stdout.write(`arrakis listening on ${url}\n`),
  });
  await afterListening?.(cp);
  await stopped;
  process.stdout.write('arrakis shutting down\n');
  await cp.close();
}

/** `arrakis serve`: the control plane. */
export function register(program: Command): void {
  const cmd = program.command('serve').description('run the control plane (API, scheduler, workers)');
  addSettingOptions(cmd);
  cmd.action(async (flags: Record<string, unknown>) => {
    await runServe(loadConfig(flags, process.env));
  });
}
