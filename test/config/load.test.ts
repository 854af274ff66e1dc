/** The one settings schema: flag beats env, defaults, clear errors, frozen result, docs in sync. */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { addSettingOptions, ConfigError, loadConfig } from '../../src/config/load.js';
import { SETTINGS } from '../../src/config/settings.js';

const run = promisify(execFile);
const BIN = new URL('../../bin/arrakis.mjs', import.meta.url).pathname;

function parse(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const cmd = addSettingOptions(new Command('serve').exitOverride());
  cmd.parse(argv, { from: 'user' });
  return loadConfig(cmd.opts(), env);
}

describe('loadConfig', () => {
  it('has the contract defaults', () => {
    const c = parse([]);
    expect(c).toMatchObject({
      host: '127.0.0.1',
      port: 8080,
      db: 'sqlite:./data/arrakis.db',
      storage: 'file:./data/objects',
      comfyui: [],
      comfyLite: 0,
      corsOrigins: [],
      fetchAllow: [],
    });
    expect(c.adminKey).toBeUndefined();
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('reads ARRAKIS_* variables; a flag wins over its variable', () => {
    const env = {
      ARRAKIS_PORT: '9000',
      ARRAKIS_HOST: '0.0.0.0',
      ARRAKIS_COMFYUI: 'http://a:8188, http://b:8188',
    };
    const c = parse(['--port', '9100'], env);
    expect(c.port).toBe(9100);
    expect(c.host).toBe('0.0.0.0');
    expect(c.comfyui).toEqual(['http://a:8188', 'http://b:8188']);
    const repeated = parse(['--comfyui', 'http://x:1', '--comfyui', 'http://y:2'], env);
    expect(repeated.comfyui).toEqual(['http://x:1', 'http://y:2']);
    expect(parse(['--fetch-allow', 'files.internal:8443']).fetchAllow).toEqual(['files.internal:8443']);
  });

  it('a bad value names the flag, the variable and what is accepted', () => {
    expect(() => parse(['--port', 'eighty'])).toThrow(ConfigError);
    expect(() => parse(['--port', 'eighty'])).toThrow(/--port \(ARRAKIS_PORT\): expected a whole number/);
    expect(() => parse([], { ARRAKIS_PORT: '70000' })).toThrow(/--port \(ARRAKIS_PORT\)/);
    expect(() => parse(['--db', 'mysql://x'])).toThrow(/--db \(ARRAKIS_DB\).*sqlite:PATH or postgres/);
    expect(() => parse(['--admin-key', 'short'])).toThrow(/--admin-key \(ARRAKIS_ADMIN_KEY\): at least 16/);
    expect(() => parse(['--comfyui', 'ftp://x'])).toThrow(/--comfyui/);
    expect(() => parse(['--webhook-retry', '1s,soon'])).toThrow(/--webhook-retry/);
  });
});

describe('the CLI', () => {
  it('serve with a bad setting exits non-zero naming it', async () => {
    const err = await run(process.execPath, [BIN, 'serve', '--port', 'x']).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect('code' in err && err.code).not.toBe(0);
    expect(String((err as { stderr: string }).stderr)).toContain('--port (ARRAKIS_PORT)');
  });
});

describe('docs/configuration.md', () => {
  it('lists every setting with its flag and variable', () => {
    const md = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    for (const s of Object.values(SETTINGS)) {
      expect(md, s.flag).toContain(`| \`${s.flag}\` | \`${s.env}\` |`);
    }
  });
});
