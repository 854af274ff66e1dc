/**
 * WAL checkpoints off the event loop. better-sqlite3 runs on the main thread, and SQLite's automatic checkpoint
 * runs inside the COMMIT that crosses its threshold: that commit copies the WAL into the database file and
 * fsyncs both, which on a busy disk took 10–280 ms once every ~100 admissions (1 % of the admissions held 55–67 %
 * of the time, and every request behind them waited). Once a store has written a while, a worker thread with its
 * own connection checkpoints instead (PASSIVE: it never blocks a writer or a reader), and the main connection's
 * automatic checkpoint stays only as a backstop at a larger WAL size. Durability is unchanged: the same
 * checkpoint, with the same fsyncs, just on another thread.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';

/** Write statements before the thread starts: a short-lived store (a test, a CLI command) never starts one. */
export const CHECKPOINTER_AFTER_WRITES = 500;
/** How often the thread checkpoints. */
const INTERVAL_MS = 200;
/** The main connection checkpoints itself only past this many WAL pages (SQLite's default is 1000). */
const BACKSTOP_PAGES = 10_000;
const DEFAULT_PAGES = 1000;

// CommonJS, evaluated in the worker: plain JavaScript, so it runs the same under tsx and from a bundle.
const THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 0');
const timer = setInterval(() => {
  try {
    const [r] = db.pragma('wal_checkpoint(PASSIVE)');
    if (r && r.checkpointed > 0) parentPort.postMessage(r.checkpointed);
  } catch {
    // Busy or closing: the next tick tries again, and the main connection's backstop still holds.
  }
}, workerData.intervalMs);
parentPort.on('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

/** Counts a connection's writes and, past CHECKPOINTER_AFTER_WRITES, checkpoints its WAL on a worker thread. */
export class WalCheckpointer {
  #writes = 0;
  #worker: Worker | null = null;
  #pages = 0;

  constructor(
    private readonly db: Database.Database,
    private readonly path: string,
  ) {}

  /** WAL pages the thread has copied into the database file so far. */
  get checkpointedPages(): number {
    return this.#pages;
  }

  /** Whether the thread runs (the main connection then checkpoints only as a backstop). */
  get running(): boolean {
    return this.#worker !== null;
  }

  /** Called after each write statement on the main connection. */
  wrote(): void {
    if (this.#writes++ !== CHECKPOINTER_AFTER_WRITES) return;
    const module = createRequire(import.meta.url).resolve('better-sqlite3');
    const worker = new Worker(THREAD, {
      eval: true,
      // The inline script is plain CommonJS: none of this process's flags (a loader, `--input-type=module`).
      execArgv: [],
      workerData: { module, path: this.path, intervalMs: INTERVAL_MS },
    });
    worker.on('message', (pages: number) => {
      this.#pages += pages;
    });
    // Without the thread the main connection checkpoints as before.
    worker.on('error', () => this.#fallBack(worker));
    worker.on('exit', () => this.#fallBack(worker));
    // After the listeners: adding a 'message' listener refs the worker again, and a thread that holds the
    // process open would keep a finished `arrakis` command from exiting.
    worker.unref();
    this.#worker = worker;
    this.db.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);
  }

  #fallBack(worker: Worker): void {
    if (this.#worker !== worker) return;
    this.#worker = null;
    if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${DEFAULT_PAGES}`);
  }

  /** Stops the thread (before the main connection closes and takes the last checkpoint itself). */
  async stop(): Promise<void> {
    const worker = this.#worker;
    if (worker === null) return;
    this.#worker = null;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage('stop');
    const timer = setTimeout(() => void worker.terminate(), 2000);
    await exited;
    clearTimeout(timer);
    if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${DEFAULT_PAGES}`);
  }
}
