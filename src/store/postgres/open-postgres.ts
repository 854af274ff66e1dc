/** Opens a pg Pool under Kysely. BIGINT (epoch ms, counters) is parsed to a JS number. */
import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
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

/** A Kysely instance over a pool of `poolSize` connections to `url`. */
export function openPostgres(url: string, poolSize: number): Kysely<DatabaseSchema> {
  const pool = new pg.Pool({ connectionString: url, max: poolSize, types: arrakisPgTypes() });
  // An idle client losing its server must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  return new Kysely<DatabaseSchema>({ dialect: new PostgresDialect({ pool }) });
}
