/**
 * A Kysely driver over one better-sqlite3 connection, replacing Kysely's own for two reasons:
 * every transaction begins with BEGIN IMMEDIATE (it takes the write lock up front, so two processes
 * never deadlock upgrading a read lock), and prepared statements are cached by SQL text, which keeps
 * the hot paths (admission, claim, complete) cheap. Callers queue FIFO for the single connection.
 * `direct` runs a hot verb's statements synchronously on the same connection, behind the same queue.
 */
import type Database from 'better-sqlite3';
import { CompiledQuery, type DatabaseConnection, type Driver, type QueryResult } from 'kysely';
import type { DirectSql, Exec } from '../direct.js';
import type { WalCheckpointer } from './wal-checkpointer.js';

/** Hands the single connection to one caller at a time, in arrival order. */
class FifoMutex {
  #locked = false;
  readonly #waiters: Array<() => void> = [];

  async lock(): Promise<void> {
    if (this.tryLock()) return;
    await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  /**
   * Takes the lock now when it is free. FIFO holds: while anyone waits the lock is never free (unlock hands it
   * straight to the next waiter), so this cannot overtake a waiter.
   */
  tryLock(): boolean {
    if (this.#locked) return false;
    this.#locked = true;
    return true;
  }

  unlock(): void {
    const next = this.#waiters.shift();
    if (next) next();
    else this.#locked = false;
  }
}

const STATEMENT_CACHE_LIMIT = 500;

class SqliteConnection implements DatabaseConnection {
  readonly #db: Database.Database;
  readonly #cache = new Map<string, Database.Statement>();
  readonly #checkpointer: WalCheckpointer | null;

  constructor(db: Database.Database, checkpointer: WalCheckpointer | null) {
    this.#db = db;
    this.#checkpointer = checkpointer;
  }

  #prepare(sql: string): Database.Statement {
    let stmt = this.#cache.get(sql);
    if (stmt === undefined) {
      stmt = this.#db.prepare(sql);
      if (this.#cache.size >= STATEMENT_CACHE_LIMIT) this.#cache.clear();
      this.#cache.set(sql, stmt);
    }
    return stmt;
  }

  executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    try {
      return Promise.resolve(this.#run<R>(compiledQuery));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #run<R>(compiledQuery: CompiledQuery): QueryResult<R> {
    const stmt = this.#prepare(compiledQuery.sql);
    const params = compiledQuery.parameters as unknown[];
    if (stmt.reader) return { rows: stmt.all(params) as R[] };
    const { changes } = stmt.run(params);
    this.#checkpointer?.wrote();
    return { numAffectedRows: BigInt(changes), rows: [] };
  }

  /** One statement, synchronously (the caller holds the connection): its rows, none for a write. */
  readonly exec: Exec = (text, params) => {
    const stmt = this.#prepare(text);
    if (stmt.reader) return stmt.all(params) as unknown[];
    stmt.run(params);
    this.#checkpointer?.wrote();
    return [];
  };

  get inTransaction(): boolean {
    return this.#db.inTransaction;
  }

  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming is not supported by the Arrakis SQLite driver');
  }
}

/** The synchronous path (../direct.ts): the same connection, statement cache and FIFO queue as Kysely's. */
class SqliteDirect implements DirectSql {
  readonly #mutex: FifoMutex;
  readonly #connection: SqliteConnection;

  constructor(mutex: FifoMutex, connection: SqliteConnection) {
    this.#mutex = mutex;
    this.#connection = connection;
  }

  query(text: string, params: readonly unknown[]): Promise<unknown[]> {
    return this.#locked(() => this.#connection.exec(text, params));
  }

  read<T>(fn: (exec: Exec) => T): Promise<T> {
    return this.#locked(() => this.#transaction('BEGIN', fn));
  }

  write<T>(fn: (exec: Exec) => T): Promise<T> {
    return this.#locked(() => this.#transaction('BEGIN IMMEDIATE', fn));
  }

  /**
   * Runs `work` holding the connection: at once when it is free (no await before the statements run, so an
   * uncontended read costs no extra turn of the event loop), else after the callers queued before it.
   */
  #locked<T>(work: () => T): Promise<T> {
    if (this.#mutex.tryLock()) {
      try {
        return Promise.resolve(work());
      } catch (err) {
        return Promise.reject(err);
      } finally {
        this.#mutex.unlock();
      }
    }
    return this.#mutex.lock().then(() => {
      try {
        return work();
      } finally {
        this.#mutex.unlock();
      }
    });
  }

  /** `fn`'s statements between `begin` and COMMIT; the caller holds the connection. */
  #transaction<T>(begin: string, fn: (exec: Exec) => T): T {
    const { exec } = this.#connection;
    try {
      exec(begin, []);
      const result = fn(exec);
      exec('COMMIT', []);
      return result;
    } catch (err) {
      // As Kysely does: a failed statement or COMMIT leaves nothing open behind it.
      if (this.#connection.inTransaction) exec('ROLLBACK', []);
      throw err;
    }
  }
}

export class ImmediateSqliteDriver implements Driver {
  readonly #db: Database.Database;
  readonly #mutex = new FifoMutex();
  readonly #connection: SqliteConnection;
  readonly #checkpointer: WalCheckpointer | null;

  constructor(db: Database.Database, checkpointer: WalCheckpointer | null = null) {
    this.#db = db;
    this.#checkpointer = checkpointer;
    this.#connection = new SqliteConnection(db, checkpointer);
    this.direct = new SqliteDirect(this.#mutex, this.#connection);
  }

  /** Statements run synchronously for the hot verbs (../direct.ts). */
  readonly direct: DirectSql;

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    await this.#mutex.lock();
    return this.#connection;
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('BEGIN IMMEDIATE'));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('COMMIT'));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('ROLLBACK'));
  }

  async releaseConnection(): Promise<void> {
    this.#mutex.unlock();
  }

  async destroy(): Promise<void> {
    await this.#checkpointer?.stop();
    this.#db.close();
  }
}
