/**
 * Opens a pg Pool under Kysely. BIGINT (epoch ms, counters) is parsed to a JS number, and the hot-path
 * statements of job-sql.ts run as named prepared statements, so each connection parses and plans them once.
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

const COMMANDS = new Set(['UPDATE', 'DELETE', 'INSERT', 'SELECT', 'MERGE', 'COMMIT', 'ROLLBACK']);

function toKyselyResult<R>(result: pg.QueryResult): PostgresQueryResult<R> {
  const command = COMMANDS.has(result.command)
    ? (result.command as PostgresQueryResult<R>['command'])
    : 'SELECT';
  return { command, rowCount: result.rowCount ?? 0, rows: result.rows as R[] };
}

/** A pool client that runs the texts in `names` as named prepared statements. */
function namingClient(client: pg.PoolClient, names: ReadonlyMap<string, string>): PostgresPoolClient {
  function query<R>(sql: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>>;
  function query<R>(cursor: PostgresCursor<R>): PostgresCursor<R>;
  function query<R>(
    sql: string | PostgresCursor<R>,
    parameters?: ReadonlyArray<unknown>,
  ): Promise<PostgresQueryResult<R>> | PostgresCursor<R> {
    if (typeof sql !== 'string') throw new Error('cursors are not used by the Arrakis store');
    const values = [...(parameters ?? [])];
    const name = names.get(sql);
    const pending =
      name === undefined ? client.query(sql, values) : client.query({ name, text: sql, values });
    return pending.then((r) => toKyselyResult<R>(r));
  }
  return { query, release: (destroy?: boolean) => client.release(destroy) };
}

/** A Kysely instance over a pool of `poolSize` connections to `url`; `prepared` texts become named statements. */
export function openPostgres(
  url: string,
  poolSize: number,
  prepared: readonly string[],
): Kysely<DatabaseSchema> {
  // A connect that hangs (a blackholed host) fails after 10 s instead of holding a caller forever.
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    types: arrakisPgTypes(),
    connectionTimeoutMillis: 10_000,
  });
  // An idle client losing its server must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  const names = new Map(prepared.map((text, i) => [text, `arrakis_${i}`]));
  // The pool listens for errors only on idle clients; one checked out when the server goes away (an outage,
  // a restart) would emit an unhandled 'error' and end the process. Its query fails instead; the pool drops it.
  const guarded = new WeakSet<pg.PoolClient>();
  const naming: PostgresPool = {
    connect: async () => {
      const client = await pool.connect();
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
