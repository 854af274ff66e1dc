import type { Command } from 'commander';

const DEFAULT_DB = 'sqlite:./data/arrakis.db';

/** `arrakis migrate [--db URL]`: applies pending migrations and prints what it applied. */
export function register(program: Command): void {
  program
    .command('migrate')
    .description('apply database migrations and exit')
    .option('--db <url>', `database URL (env ARRAKIS_DB, default ${DEFAULT_DB})`)
    .action(async (flags: { db?: string }) => {
      const url = flags.db ?? (process.env.ARRAKIS_DB || DEFAULT_DB);
      const { migrateDatabase } = await import('../store/migrate-database.js');
      const applied = await migrateDatabase(url);
      const where = url.replace(/\/\/[^@/]*@/, '//***@');
      if (applied.length === 0) process.stdout.write(`${where}: up to date, nothing applied\n`);
      for (const name of applied) process.stdout.write(`${where}: applied ${name}\n`);
    });
}
