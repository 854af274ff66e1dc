/**
 * What every check shares: the run's own account (made through the admin API, so the battery never touches
 * a real tenant), a client per end user, the jobs to submit, the fleet view and the timeline of jobs run.
 */
import { randomBytes } from 'node:crypto';
import { ArrakisAdmin, ArrakisClient, type CreatedAccount, type Job } from '../client/index.js';
import { FleetApi, type FleetPool } from './fleet-api.js';
import type { BenchOptions } from './options.js';
import type { Progress } from './progress.js';
import type { JobRecord } from './types.js';
import { benchJobs, type BenchJobs } from './workflows.js';

export interface BenchAccount {
  account: CreatedAccount;
  apiKey: string;
}

export interface BenchContext {
  options: BenchOptions;
  admin: ArrakisAdmin;
  fleet: FleetApi;
  main: BenchAccount;
  jobs: BenchJobs;
  /** Jobs the battery ran, in submission order (the timeline). */
  records: JobRecord[];
  /** Completed jobs, for the outputs check. */
  completed: Job[];
  progress: Progress;
  startedAt: Date;
  /** A client acting as `user` (prefixed with the run id) in the run's account. */
  client(user: string): ArrakisClient;
  /** A client acting as exactly `userId` (a job's `user_id`) in the run's account. */
  clientAs(userId: string): ArrakisClient;
  /** Makes another account with a key (the isolation checks). */
  newAccount(label: string): Promise<BenchAccount>;
  /**
   * The autoscaled pool the jobs run on (`--pool`, else the server's default pool; the first pool for a server
   * that does not say), or null when that pool is not autoscaled.
   */
  targetPool(): Promise<FleetPool | null>;
  /**
   * Revokes every API key the run made (accounts cannot be deleted through the API, keys can): the run
   * leaves no working credential behind. Resolves with the keys that could not be revoked.
   */
  revokeKeys(): Promise<string[]>;
}

/** Creates the run's account and key; a wrong admin key or server fails here, before any check runs. */
export async function createContext(options: BenchOptions, progress: Progress): Promise<BenchContext> {
  const jobs = await benchJobs(options);
  const admin = new ArrakisAdmin({ baseUrl: options.server, adminKey: options.adminKey });
  const fleet = new FleetApi(options.server, options.adminKey);
  const run = randomBytes(3).toString('hex');
  const keys: string[] = [];
  const newAccount = async (label: string): Promise<BenchAccount> => {
    const account = await admin.accounts.create({
      name: `arrakis-bench ${run} ${label}`,
      limits: {
        max_active_jobs_per_user: options.quotaLimit,
        max_active_jobs: 10000,
        // Submission rate is not under test: keep it out of the way of the quota burst.
        submit_rate_per_user: 1000,
        submit_burst_per_user: options.burst + 100,
      },
    });
    const key = await admin.keys.create(account.id, { name: 'arrakis bench' });
    keys.push(key.id);
    return { account, apiKey: key.key };
  };
  const main = await newAccount('main');
  const clientAs = (userId: string): ArrakisClient =>
    new ArrakisClient({ baseUrl: options.server, apiKey: main.apiKey, userId });
  return {
    options,
    admin,
    fleet,
    main,
    jobs,
    records: [],
    completed: [],
    progress,
    startedAt: new Date(),
    client: (user) => clientAs(`bench-${run}-${user}`),
    clientAs,
    newAccount,
    targetPool: async () => {
      const { pools, default_pool } = await fleet.state();
      const name = options.pool ?? default_pool;
      return (name === undefined ? pools[0] : pools.find((p) => p.name === name)) ?? null;
    },
    revokeKeys: async () => {
      const results = await Promise.allSettled(keys.map((id) => admin.keys.revoke(id)));
      return keys.filter((_, i) => results[i]?.status === 'rejected');
    },
  };
}
