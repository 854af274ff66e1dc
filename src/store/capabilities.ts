/**
 * What one database can do that the other cannot. Store code asks these flags, never the dialect name,
 * so there is exactly one implementation of every verb.
 */
export interface Capabilities {
  /** Placeholders are `$1, $2` (Postgres) rather than `?` (SQLite). */
  readonly numberedParams: boolean;
  /** `FOR UPDATE SKIP LOCKED` exists and is needed: several connections claim at once. */
  readonly rowLocks: boolean;
  /** `pg_advisory_xact_lock` serialises migrations across processes (SQLite uses BEGIN IMMEDIATE). */
  readonly advisoryLocks: boolean;
  /**
   * Other processes may share this database: the event bus must reach them (LISTEN/NOTIFY) and duties that
   * run once need a lock. Without it the one process coordinates in memory (see coordination.ts).
   */
  readonly crossProcess: boolean;
  /** The PL/pgSQL functions of migrations 002 and 004 exist: a hot path runs as one autocommit round trip. */
  readonly serverFunctions: boolean;
  /** The table function that expands a JSON array stored as text: SQLite's `json_each`, Postgres's
   *  `json_array_elements` (used by the claim's model placement). */
  readonly jsonArrays: 'json_each' | 'json_array_elements';
  /**
   * The collation that orders text by its UTF-8 code units (bytes), whatever the database's own collation:
   * SQLite's `BINARY` (its default), Postgres's `"C"` (a database created with en_US would otherwise order
   * `a` before `B` and skip punctuation).
   */
  readonly byteCollation: 'BINARY' | '"C"';
}

export const SQLITE_CAPABILITIES: Capabilities = Object.freeze({
  numberedParams: false,
  rowLocks: false,
  advisoryLocks: false,
  crossProcess: false,
  serverFunctions: false,
  jsonArrays: 'json_each',
  byteCollation: 'BINARY',
});

export const POSTGRES_CAPABILITIES: Capabilities = Object.freeze({
  numberedParams: true,
  rowLocks: true,
  advisoryLocks: true,
  crossProcess: true,
  serverFunctions: true,
  jsonArrays: 'json_array_elements',
  byteCollation: '"C"',
});
