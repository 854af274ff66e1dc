/**
 * Statements run synchronously, for the hottest verbs on a dialect that runs them in-process (SQLite): a
 * verb's statements run back to back while it holds the one connection, without Kysely's executor and a
 * promise per statement in between. Same SQL texts, same statement cache, same connection lock (FIFO with
 * every Kysely query), same transactions: only the plumbing between the statements is gone.
 *
 * A verb written as Steps (a generator that yields each statement and receives its rows) runs either way:
 * synchronously here, or statement by statement through Kysely on a dialect without this path (Postgres);
 * context.ts chooses (writeSteps, readSteps).
 */
/** Runs one SQL text with positional parameters, synchronously; its rows (none for a write). */
export type Exec = (text: string, params: readonly unknown[]) => unknown[];

export interface DirectSql {
  /** One statement, holding the connection (its own implicit transaction). */
  query(text: string, params: readonly unknown[]): Promise<unknown[]>;
  /** `fn`'s statements in one read transaction (BEGIN ... COMMIT): one snapshot, one lock round. */
  read<T>(fn: (exec: Exec) => T): Promise<T>;
  /** `fn`'s statements in one BEGIN IMMEDIATE ... COMMIT; rolled back when `fn` throws. */
  write<T>(fn: (exec: Exec) => T): Promise<T>;
}

/** One statement of a verb written as steps. */
export interface Step {
  readonly text: string;
  readonly params: readonly unknown[];
}

/** A verb as a sequence of statements: each `yield` hands one over and receives its rows. */
export type Steps<T> = Generator<Step, T, unknown[]>;

/** The step for `text` with `params` (yield it inside Steps). */
export function step(text: string, params: readonly unknown[]): Step {
  return { text, params };
}

/**
 * Runs `steps` to the end, each statement by `exec`, synchronously. A statement that fails is thrown into the
 * steps at its `yield` (a verb may undo part of its work there: a savepoint); uncaught, it ends the run.
 */
export function runStepsSync<T>(exec: Exec, steps: Steps<T>): T {
  let next = steps.next([]);
  while (next.done !== true) {
    let rows: unknown[];
    try {
      rows = exec(next.value.text, next.value.params);
    } catch (err) {
      next = steps.throw(err);
      continue;
    }
    next = steps.next(rows);
  }
  return next.value;
}
