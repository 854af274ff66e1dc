/**
 * WAL checkpoints on a worker thread: past its write threshold a file database's WAL is copied into the database
 * file by the thread, while the main connection only keeps a backstop, so no request's COMMIT pays for the copy
 * and its fsyncs.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { CHECKPOINTER_AFTER_WRITES, WalCheckpointer } from '../../src/store/sqlite/wal-checkpointer.js';

describe('WalCheckpointer', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  function open(): { db: Database.Database; checkpointer: WalCheckpointer } {
    const dir = mkdtempSync(join(tmpdir(), 'arrakis-wal-'));
    const path = join(dir, 'a.db');
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)');
    const checkpointer = new WalCheckpointer(db, path);
    cleanups.push(async () => {
      await checkpointer.stop();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    });
    return { db, checkpointer };
  }

  it('starts after its write threshold and checkpoints the WAL on its own thread', async () => {
    const { db, checkpointer } = open();
    const insert = db.prepare('INSERT INTO t (body) VALUES (?)');
    for (let i = 0; i < CHECKPOINTER_AFTER_WRITES; i++) {
      insert.run('x'.repeat(500));
      checkpointer.wrote();
    }
    expect(checkpointer.running).toBe(false);
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    insert.run('x'.repeat(500));
    checkpointer.wrote();
    expect(checkpointer.running).toBe(true);
    // The main connection now checkpoints only as a backstop, far past SQLite's default.
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(10_000);
    for (let i = 0; i < 200; i++) insert.run('y'.repeat(500));
    const deadline = Date.now() + 10_000;
    while (checkpointer.checkpointedPages === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(checkpointer.checkpointedPages).toBeGreaterThan(0);
    expect(db.prepare('SELECT COUNT(*) AS n FROM t').get()).toEqual({ n: CHECKPOINTER_AFTER_WRITES + 201 });
  });

  it('stops its thread and hands checkpoints back to the main connection', async () => {
    const { db, checkpointer } = open();
    for (let i = 0; i <= CHECKPOINTER_AFTER_WRITES; i++) checkpointer.wrote();
    expect(checkpointer.running).toBe(true);
    await checkpointer.stop();
    expect(checkpointer.running).toBe(false);
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
  });

  it('never keeps a process alive, even when its flags are a module loader', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'arrakis-wal-child-'));
    cleanups.push(() => Promise.resolve(rmSync(dir, { recursive: true, force: true })));
    const script = `
      import Database from 'better-sqlite3';
      import { CHECKPOINTER_AFTER_WRITES, WalCheckpointer } from ${JSON.stringify(join(process.cwd(), 'src/store/sqlite/wal-checkpointer.ts'))};
      const path = ${JSON.stringify(join(dir, 'a.db'))};
      const db = new Database(path);
      db.pragma('journal_mode = WAL');
      db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)');
      const checkpointer = new WalCheckpointer(db, path);
      for (let i = 0; i <= CHECKPOINTER_AFTER_WRITES; i++) checkpointer.wrote();
      // Still running a moment later (the thread started), and then the process ends on its own.
      setTimeout(() => console.log('running', checkpointer.running), 300);
    `;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      { timeout: 20_000 },
    );
    expect(stdout.trim()).toBe('running true');
  }, 30_000);
});
