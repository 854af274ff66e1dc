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
      const { migrationRetryMessage } = await import('../store/migration-errors.js');
      // A migration waiting for a lock retries for up to ~40 s: say so meanwhile, not only when it fails.
      const applied = await migrateDatabase(url, (retry) => {
        process.stderr.write(`warning: ${migrationRetryMessage(retry)}\n`);
      });
      const where = url.replace(/\/\/[^@/]*@/, '//***@');
      if (applied.length === 0) process.stdout.write(`${where}: up to date, nothing applied\n`);
      for (const name of applied) process.stdout.write(`${where}: applied ${name}\n`);
    });
}
