/**
 * `arrakis admin …`, `arrakis dev` (demo key, admin key, --new-key) and `arrakis --version`, each run as a
 * process against a real control plane.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, startTestServer, type TestServer } from '../support/server.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin/arrakis.mjs');

let server: TestServer;
let dir: string;

function arrakis(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: ROOT, env: { ...process.env, ...env } },
      (err, stdout, stderr) => {
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr });
      },
    );
  });
}

/** `arrakis admin …` against the test server with its admin key; the parsed JSON it printed. */
async function admin(...args: string[]): Promise<any> {
  const r = await arrakis(['admin', ...args, '--server', server.url], { ARRAKIS_ADMIN_KEY: ADMIN_KEY });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

beforeAll(async () => {
  server = await startTestServer();
  dir = mkdtempSync(join(tmpdir(), 'arrakis-admin-'));
});
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

// Each command is a fresh Node process (~1 s alone, several on a loaded 2-core machine).
describe('arrakis admin', { timeout: 120_000 }, () => {
  it('creates and lists accounts, creates, lists and revokes keys', async () => {
    const account = await admin('accounts', 'create', '--name', 'acme', '--max-active-jobs-per-user', '3');
    expect(account).toMatchObject({ name: 'acme', limits: { max_active_jobs_per_user: 3 } });
    expect(account.webhook_secret).toMatch(/^whsec_/);
    expect((await admin('accounts', 'list')).map((a: any) => a.id)).toContain(account.id);

    const key = await admin(
      'keys',
      'create',
      '--account',
      account.id,
      '--name',
      'ci',
      '--scopes',
      'jobs:read,jobs:write',
    );
    expect(key.scopes).toEqual(['jobs:read', 'jobs:write']);
    const usage = () =>
      fetch(`${server.url}/v1/usage`, { headers: { authorization: `Bearer ${key.key}`, 'x-user-id': 'u' } });
    expect((await usage()).status).toBe(200);
    expect((await admin('keys', 'list', '--account', account.id)).map((k: any) => k.id)).toContain(key.id);
    expect(await admin('keys', 'revoke', key.id)).toEqual({ revoked: key.id });
    expect((await usage()).status).toBe(401);
  });

  it('creates, lists and revokes worker tokens and templates', async () => {
    const token = await admin('worker-tokens', 'create', '--name', 'gpu-1', '--pool', 'default');
    expect(token.token).toMatch(/^wkt_/);
    const listed = await admin('worker-tokens', 'list');
    expect(listed.find((t: any) => t.id === token.id)).toMatchObject({ name: 'gpu-1', revoked_at: null });
    expect(JSON.stringify(listed)).not.toContain(token.token);
    await admin('worker-tokens', 'revoke', token.id);
    expect(
      (await admin('worker-tokens', 'list')).find((t: any) => t.id === token.id).revoked_at,
    ).not.toBeNull();

    const template = await admin('templates', 'create', 'examples/invert.json', '--name', 'inv');
    expect(template.name).toBe('inv');
    expect((await admin('templates', 'list')).map((t: any) => t.name)).toContain('inv');
    await admin('templates', 'revoke', 'inv');
    expect((await admin('templates', 'list')).map((t: any) => t.name)).not.toContain('inv');
  });

  it('exits non-zero with the server code, and without ARRAKIS_ADMIN_KEY says how to set it', async () => {
    const wrong = await arrakis(['admin', 'keys', 'revoke', 'key_nope', '--server', server.url], {
      ARRAKIS_ADMIN_KEY: ADMIN_KEY,
    });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/not_found: /);
    const bad = await arrakis(['admin', 'accounts', 'list', '--server', server.url], {
      ARRAKIS_ADMIN_KEY: 'nope',
    });
    expect(bad.stderr).toMatch(/unauthorized: /);
    const none = await arrakis(['admin', 'accounts', 'list', '--server', server.url], {
      ARRAKIS_ADMIN_KEY: '',
    });
    expect(none.stderr).toContain('ARRAKIS_ADMIN_KEY is not set');
  });
});

describe('arrakis --version', () => {
  it("prints the package's version", async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const r = await arrakis(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(version);
  });
});

describe('arrakis dev', { timeout: 120_000 }, () => {
  const children: ChildProcess[] = [];
  afterAll(async () => {
    for (const c of children) {
      if (c.exitCode === null && c.signalCode === null) {
        c.kill('SIGKILL');
        await once(c, 'exit');
      }
    }
  });

  /** Starts `arrakis dev` on a free port in `dir` and returns what its banner printed. */
  async function dev(extra: string[]): Promise<{ proc: ChildProcess; banner: string; url: string }> {
    const args = [
      'dev',
      '--port',
      '0',
      '--db',
      `sqlite:${join(dir, 'dev.db')}`,
      '--storage',
      `file:${join(dir, 'objects')}`,
      ...extra,
    ];
    const env: NodeJS.ProcessEnv = { ...process.env, ARRAKIS_LOG_LEVEL: 'silent' };
    delete env.ARRAKIS_ADMIN_KEY;
    const proc = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(proc);
    let out = '';
    for await (const chunk of proc.stdout!) {
      out += String(chunk);
      if (/^ {2}Try:/m.test(out) && /admin accounts list/.test(out)) break;
    }
    const url = /arrakis listening on (http:\/\/\S+)/.exec(out)?.[1] ?? '';
    return { proc, banner: out, url };
  }

  async function stop(proc: ChildProcess): Promise<void> {
    proc.kill('SIGTERM');
    await once(proc, 'exit');
  }

  it('prints a working admin key at every start, and --new-key mints a demo key that works', async () => {
    const first = await dev([]);
    const adminKey = /^ {2}Admin: (adm_\S+)/m.exec(first.banner)?.[1];
    expect(adminKey).toBeDefined();
    expect(first.banner).toMatch(/^ {2}Key: {3}\S+/m);
    const r = await arrakis(['admin', 'accounts', 'list', '--server', first.url], {
      ARRAKIS_ADMIN_KEY: adminKey!,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).map((a: any) => a.name)).toContain('demo');
    await stop(first.proc);

    const again = await dev(['--new-key']);
    const key = /^ {2}Key: {3}(\S+)/m.exec(again.banner)?.[1];
    expect(key).toBeDefined();
    expect(again.banner).not.toContain(adminKey!);
    const usage = await fetch(`${again.url}/v1/usage`, {
      headers: { authorization: `Bearer ${key!}`, 'x-user-id': 'alice' },
    });
    expect(usage.status).toBe(200);
    await stop(again.proc);

    const plain = await dev([]);
    expect(plain.banner).toMatch(
      /its key was shown when it was created \(`arrakis dev --new-key` makes another\)/,
    );
    await stop(plain.proc);
  });
});
