/**
 * `arrakis serve` as a process: a bad setting or fleet file stops it before it listens (exit non-zero, nothing
 * printed as listening), on SQLite and Postgres; errors never echo secrets; a database that cannot be reached
 * is named with its password redacted. (Regressions of issue 13: defect 1 and item 4.)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/util/free-port.js';
import { createTestDatabase } from '../support/pg.js';

const BIN = fileURLToPath(new URL('../../bin/arrakis.mjs', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `arrakis serve …` to its exit (killed after 30 s: a serve that keeps running fails the test). */
function serve(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--log-level', 'silent', ...args], {
      env: { ...process.env, ARRAKIS_DB: '', ARRAKIS_ADMIN_KEY: '', ARRAKIS_FLEET: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

let dir: string;
let badFleet: string;
let pgDb: { url: string; drop(): Promise<void> };
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'arrakis-startup-'));
  badFleet = join(dir, 'fleet.yaml');
  writeFileSync(
    badFleet,
    ['pools:', '  GPU Pool:', '    provider: nope', '    min: -1', '    max: lots', ''].join('\n'),
  );
  pgDb = await createTestDatabase();
});
afterAll(async () => {
  await pgDb.drop();
  rmSync(dir, { recursive: true, force: true });
});

describe('serve refuses to start on a bad fleet file', () => {
  const backends = [
    ['sqlite', () => `sqlite:${join(dir, 'a.db')}`],
    ['postgres', () => pgDb.url],
  ] as const;
  it.each(backends)(
    'on %s: exits non-zero before listening and lists every problem of the pool',
    async (_name, db) => {
      const r = await serve(['--db', db(), '--storage', `file:${join(dir, 'objects')}`, '--fleet', badFleet]);
      expect(r.code).toBe(1);
      expect(r.stdout).not.toMatch(/listening/);
      expect(r.stderr).toMatch(/pool name "GPU Pool" is not allowed: use 1 to 63 lowercase letters/);
      expect(r.stderr).toMatch(/pools\.GPU Pool\.provider: provider must be one of static, process, modal/);
      expect(r.stderr).toMatch(/pools\.GPU Pool\.min: min must be a whole number/);
      expect(r.stderr).toMatch(/pools\.GPU Pool\.max: max must be a whole number/);
    },
  );
});

describe('serve keeps secrets out of its errors', () => {
  it('an invalid --admin-key is refused without echoing it', async () => {
    const r = await serve(['--db', `sqlite:${join(dir, 'b.db')}`, '--admin-key', 'tooShortSecret']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--admin-key/);
    expect(r.stderr).not.toContain('tooShortSecret');
  });

  it('an invalid --db URL is echoed with its password redacted', async () => {
    const r = await serve(['--db', 'mysql://app:Hunter2Secret@db.example/x']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('mysql://app:***@db.example/x');
    expect(r.stderr).not.toContain('Hunter2Secret');
  });

  it('a database that cannot be reached is named, password redacted, and serve exits before listening', async () => {
    const port = await freePort();
    const r = await serve(['--db', `postgres://app:Hunter2Secret@127.0.0.1:${port}/arrakis`]);
    expect(r.code).toBe(1);
    expect(r.stdout).not.toMatch(/listening/);
    expect(r.stderr).toContain(`cannot open the database postgres://app:***@127.0.0.1:${port}/arrakis`);
    expect(r.stderr).toMatch(/ECONNREFUSED/);
    expect(r.stderr).not.toContain('Hunter2Secret');
  });
});
