import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { addSettingOptions, loadConfig } from '../config/load.js';
import { prettyOnTerminal } from '../runtime/log.js';
import { runServe } from './serve.js';

function banner(
  url: string,
  key: string | null,
  accountId: string,
  adminKey: string,
  adminKeyIsNew: boolean,
): string {
  const shownKey = key ?? '<key>';
  return [
    '',
    `  API:   ${url}/v1`,
    `  Docs:  ${url}/docs`,
    key === null
      ? `  Demo account ${accountId}: its key was shown when it was created (\`arrakis dev --new-key\` makes another).`
      : `  Key:   ${key}   (account "demo"; only a hash is stored: keep it)`,
    adminKeyIsNew
      ? `  Admin: ${adminKey}   (new at every start; set ARRAKIS_ADMIN_KEY to keep one)`
      : '  Admin: the key given by --admin-key / ARRAKIS_ADMIN_KEY',
    '',
    '  Try:',
    `    export ARRAKIS_KEY=${shownKey} ARRAKIS_USER=alice`,
    `    npx arrakis run examples/invert.json --server ${url} --out out/`,
    `    curl -s ${url}/v1/jobs -H "Authorization: Bearer ${shownKey}" -H "X-User-ID: alice" \\`,
    `      -H "Content-Type: application/json" -d @examples/invert.json`,
    ...(adminKeyIsNew
      ? [`    ARRAKIS_ADMIN_KEY=${adminKey} npx arrakis admin accounts list --server ${url}`]
      : []),
    '',
  ].join('\n');
}

/** `arrakis dev`: serve with embedded defaults and one comfy-lite, plus a demo account, its key and an admin key. */
export function register(program: Command): void {
  const cmd = program
    .command('dev')
    .description(
      'serve with SQLite, local storage and one comfy-lite worker; prints a demo key and an admin key',
    )
    .option('--new-key', 'mint a new key for the demo account (when its first key is lost)');
  addSettingOptions(cmd);
  cmd.action(async (flags: Record<string, unknown>) => {
    const generatedAdminKey = `adm_${randomBytes(24).toString('base64url')}`;
    const { newKey, ...settings } = flags;
    const config = loadConfig(settings, process.env, { comfyLite: 1, adminKey: generatedAdminKey });
    await runServe(
      config,
      async (cp) => {
        const { ensureDemoAccount, newDemoKey } = await import('../runtime/demo-account.js');
        const demo = await ensureDemoAccount(cp.store);
        const key = demo.key ?? (newKey === true ? await newDemoKey(cp.store, demo.accountId) : null);
        const adminKey = config.adminKey ?? generatedAdminKey;
        process.stdout.write(
          `${banner(cp.url, key, demo.accountId, adminKey, adminKey === generatedAdminKey)}\n`,
        );
      },
      // A person at a terminal reads lines, not JSON; piped output stays JSON for tools.
      { prettyLog: prettyOnTerminal() },
    );
  });
}
