/** One numbered migration: the statements to run on each database, in order, inside one transaction. */
export interface Migration {
  id: number;
  name: string;
  sqlite: readonly string[];
  postgres: readonly string[];
}
