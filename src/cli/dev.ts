import type { Command } from 'commander';
import { addSettingOptions, loadConfig } from '../config/load.js';
import { runServe } from './serve.js';

/** `arrakis dev`: serve with embedded defaults and one comfy-lite, plus a demo account and key. */
export function register(program: Command): void {
  const cmd = program
    .command('dev')
    .description('serve with SQLite, local storage and one comfy-lite worker; prints a demo key');
  addSettingOptions(cmd);
  cmd.action(async (flags: Record<string, unknown>) => {
    const config = loadConfig(flags, process.env, { comfyLite: 1 });
    await runServe(config, async (cp) => {
      const url = cp.url;
      const { ensureDemoAccount } = await import('../runtime/demo-account.js');
      const demo = await ensureDemoAccount(cp.store);
      process.stdout.write(
        [
          '',
          `  API:   ${url}/v1`,
          `  Docs:  ${url}/docs`,
          demo.key === null
            ? `  Demo account exists (${demo.accountId}); its key was shown when it was created.`
            : `  Key:   ${demo.key}`,
          '',
          '  Try:',
          `    curl -s ${url}/v1/jobs -H "Authorization: Bearer ${demo.key ?? '<key>'}" -H "X-User-ID: alice" \\`,
          `      -H "Content-Type: application/json" -d @examples/invert.json`,
          '',
        ].join('\n') + '\n',
      );
    });
  });
}
