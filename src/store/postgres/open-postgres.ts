/**
 * Opens a pg Pool under Kysely. BIGINT (epoch ms, counters) is parsed to a JS number, and the hot-path
 * statements of job-sql.ts run as named prepared statements, so each connection parses and plans them once.
 * No caller waits on a host that stopped answering: connects give up after 10 s, statements after the query
 * timeout (the connection is then destroyed, not pooled), and errors that mean "no database" (including a
 * connect refused for want of connection slots) become StoreUnavailableError.
 */
import pg from 'pg';
import {
  Kysely,
  PostgresDialect,
  type PostgresCursor,
  type PostgresPool,
  type PostgresPoolClient,
  type PostgresQueryResult,
} from 'kysely';
import type { DatabaseSchema } from '../schema.js';
import { StoreUnavailableError } from '../unavailable.js';

const INT8_OID = 20;

/** A pg type-parser table where int8 becomes a number (every BIGINT Arrakis stores fits in 2^53). */
export function arrakisPgTypes(): pg.CustomTypesConfig {
  return {
    getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
      if (oid === INT8_OID) return (value: string) => Number(value);
      return pg.types.getTypeParser(oid, format ?? 'text');
    }) as pg.CustomTypesConfig['getTypeParser'],
  };
}

/**
 * How long a statement may go unanswered before the client gives up on it and its connection. No Arrakis
 * statement outside a migration (which runs on a connection of its own, without this limit) comes near it.
 */
export const DEFAULT_QUERY_TIMEOUT_MS = 60_000;

/**
 * The server's own `statement_timeout` is the client's query timeout times this: the client gives up first (its
 * StoreUnavailableError), and the server then ends the statement it abandoned instead of running it on (a
 * backend waiting on a lock, a claim that would commit for nobody) after the client dropped the connection,
 * which Postgres does not notice mid-statement.
 */
const SERVER_TIMEOUT_FACTOR = 1.25;
// The server's `idle_in_transaction_session_timeout` is the same: Postgres does not notice a client that went
// silent between a transaction's statements either (a replica cut off from it, or one the query timeout made
// drop the connection while the server ran on), and that session would keep the transaction's row and advisory
// locks, holding up every replica's writes to those rows, until its kernel's TCP keep-alive gave up (hours).
// No Arrakis transaction waits between its statements on anything but the database.

/** TCP keep-alive starts probing a connection after this much silence (and keeps NAT entries alive). */
const KEEP_ALIVE_DELAY_MS = 10_000;

/** The message pg gives a statement its query_timeout abandoned (pg/lib/client.js). */
const PG_QUERY_TIMEOUT = 'Query read timeout';

const PROTOCOL_VIOLATION = '08P01';

/**
 * SQLSTATEs the server sends when it is going away or not taking connections (class 08, 57P01-57P03). Not 08P01
 * (protocol_violation): the server answers it to a bad message on a healthy connection, such as a bind that
 * supplies the wrong number of parameters, a bug to report (500), not an outage to wait out.
 */
function isServerGoingAway(code: string): boolean {
  if (code === PROTOCOL_VIOLATION) return false;
  return code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03';
}

const TOO_MANY_CONNECTIONS = '53300';

/**
 * True when the server refused a new connection for now: it is going away or starting up, or every slot is
 * taken (53300, too_many_connections: max_connections reached, or the role's or database's CONNECTION LIMIT).
 * Only at connect: a statement never answers 53300.
 */
function isConnectRefusedForNow(code: string): boolean {
  return code === TOO_MANY_CONNECTIONS || isServerGoingAway(code);
}

const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/** True when `err`, from a statement, means the connection or the server is gone (not that the SQL failed). */
function isConnectionLost(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = 'code' in err && typeof err.code === 'string' ? err.code : '';
  if (err instanceof pg.DatabaseError) return isServerGoingAway(code);
  return (
    SOCKET_CODES.has(code) ||
    err.message === PG_QUERY_TIMEOUT ||
    err.message.startsWith('Connection terminated') ||
    err.message.includes('is not queryable')
  );
}

const COMMANDS = new Set(['UPDATE', 'DELETE', 'INSERT', 'SELECT', 'MERGE', 'COMMIT', 'ROLLBACK']);

function toKyselyResult<R>(result: pg.QueryResult): PostgresQueryResult<R> {
  const command = COMMANDS.has(result.command)
    ? (result.command as PostgresQueryResult<R>['command'])
    : 'SELECT';
  return { command, rowCount: result.rowCount ?? 0, rows: result.rows as R[] };
}

/**
 * A pool client that runs the texts in `names` as named prepared statements. After a statement timed out or
 * lost its connection the client is dead: later statements (Kysely's ROLLBACK) fail at once, and its release
 * destroys it, since a timed-out statement may still hold the connection.
 */
function namingClient(client: pg.PoolClient, names: ReadonlyMap<string, string>): PostgresPoolClient {
  let dead: StoreUnavailableError | null = null;
  function lost(err: unknown): never {
    if (!isConnectionLost(err)) throw err;
    const detail =
      err instanceof Error && err.message === PG_QUERY_TIMEOUT
        ? 'no reply within the query timeout; the connection is dropped'
        : err instanceof Error
          ? err.message
          : String(err);
    dead = new StoreUnavailableError(detail, err);
    throw dead;
  }
  function query<R>(sql: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>>;
  function query<R>(cursor: PostgresCursor<R>): PostgresCursor<R>;
  function query<R>(
    sql: string | PostgresCursor<R>,
    parameters?: ReadonlyArray<unknown>,
  ): Promise<PostgresQueryResult<R>> | PostgresCursor<R> {
    if (typeof sql !== 'string') throw new Error('cursors are not used by the Arrakis store');
    if (dead !== null) return Promise.reject(dead);
    const values = [...(parameters ?? [])];
    const name = names.get(sql);
    const pending =
      name === undefined ? client.query(sql, values) : client.query({ name, text: sql, values });
    return pending.then((r) => toKyselyResult<R>(r), lost);
  }
  return { query, release: (destroy?: boolean) => client.release(destroy === true || dead !== null) };
}

export interface PostgresOptions {
  /** Client-side limit on one statement's reply, in ms (default DEFAULT_QUERY_TIMEOUT_MS); 0 means none. */
  queryTimeoutMs?: number;
}

/** A Kysely instance over a pool of `poolSize` connections to `url`; `prepared` texts become named statements. */
export function openPostgres(
  url: string,
  poolSize: number,
  prepared: readonly string[],
  opts: PostgresOptions = {},
): Kysely<DatabaseSchema> {
  const queryTimeout = opts.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS;
  // A connect that hangs (a blackholed host) fails after 10 s instead of holding a caller forever; a statement
  // whose host stops answering mid-connection fails after the query timeout instead of the kernel's TCP
  // retransmission timeout (about 15 minutes). Keep-alive probes idle connections, so a pooled one whose host
  // vanished is found dead rather than handed out, and keeps NAT entries from expiring.
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    types: arrakisPgTypes(),
    connectionTimeoutMillis: 10_000,
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEP_ALIVE_DELAY_MS,
    ...(queryTimeout > 0
      ? {
          query_timeout: queryTimeout,
          statement_timeout: Math.ceil(queryTimeout * SERVER_TIMEOUT_FACTOR),
          idle_in_transaction_session_timeout: Math.ceil(queryTimeout * SERVER_TIMEOUT_FACTOR),
        }
      : {}),
  });
  // An idle client losing its server must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  const names = new Map(prepared.map((text, i) => [text, `arrakis_${i}`]));
  // The pool listens for errors only on idle clients; one checked out when the server goes away (an outage,
  // a restart) would emit an unhandled 'error' and end the process. Its query fails instead; the pool drops it.
  const guarded = new WeakSet<pg.PoolClient>();
  const naming: PostgresPool = {
    connect: async () => {
      const client = await pool.connect().catch((err: unknown) => {
        // A server that answers with an error (a bad password, no such database) is there: not an outage. One
        // that is starting up, shutting down or out of connection slots has no database for now: it is.
        if (err instanceof pg.DatabaseError && !isConnectRefusedForNow(err.code ?? '')) throw err;
        throw new StoreUnavailableError(err instanceof Error ? err.message : String(err), err);
      });
      if (!guarded.has(client)) {
        guarded.add(client);
        client.on('error', () => {});
      }
      return namingClient(client, names);
    },
    end: () => pool.end(),
  };
  return new Kysely<DatabaseSchema>({ dialect: new PostgresDialect({ pool: naming }) });
}
