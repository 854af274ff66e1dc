/**
 * A bounded per-replica memory of the jobs this replica completed: id → owner and public view. A client that
 * heard `done` downloads an output within milliseconds, usually from the replica that committed the completion;
 * the download route asks this memory before the store (Store.jobOutputsFor), so that download needs no read.
 * So do a `Prefer: wait` submission woken by the job's end and a read of the finished job (Store.getJobViewFor):
 * on Postgres each of those was a round trip.
 *
 * Why it cannot be wrong: it is filled only with the job row a completion's commit returned, and a completed
 * job never changes (its status is final, its outputs and owner are never rewritten, its row is never deleted:
 * retention deletes the files, and the route answers 404 when storage has no object). It answers only the
 * owner the store would (account AND user); for anyone else, or a job it does not hold, it answers nothing
 * and the caller asks the store, which answers as before. Entries leave by least recent use beyond `maxJobs`
 * jobs, `maxOutputs` outputs or `maxModelChars` characters of model names in all (a job may have up to 1,000
 * outputs, and name thousands of models: the job count alone does not bound the memory), and after `ttlMs`.
 */
import { jobViewOf, type JobView } from './public-job.js';
import type { Job, JobOutput } from './types.js';

export interface RecentCompletionsOptions {
  /** Jobs held (default 10,000). */
  maxJobs?: number;
  /** Outputs held, all jobs together (default 100,000); a job with more is not remembered. */
  maxOutputs?: number;
  /**
   * Characters of the model names the views list, all jobs together, each model counting 64 more (default
   * 4,000,000); a job naming more is not remembered. A workflow may name thousands of models, each as long as
   * the body allows.
   */
  maxModelChars?: number;
  /** How long a job is held after its completion was remembered (default 5 minutes). */
  ttlMs?: number;
  now?: () => number;
}

/** What one model of a view counts beyond its name's characters (its object and kind), for maxModelChars. */
const MODEL_OVERHEAD_CHARS = 64;

interface Held {
  accountId: string;
  view: JobView;
  /** The characters of its view's model names. */
  modelChars: number;
  at: number;
}

/** Completed jobs' owners and views, as this replica committed them (see the module comment). */
export class RecentCompletions {
  private readonly held = new Map<string, Held>();
  private readonly maxJobs: number;
  private readonly maxOutputs: number;
  /** The outputs of the jobs held, counted. */
  private outputs = 0;
  private readonly maxModelChars: number;
  /** The characters of the model names of the jobs held, counted. */
  private modelChars = 0;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(options: RecentCompletionsOptions = {}) {
    this.maxJobs = Math.max(1, options.maxJobs ?? 10_000);
    this.maxOutputs = options.maxOutputs ?? 100_000;
    this.maxModelChars = options.maxModelChars ?? 4_000_000;
    this.ttlMs = options.ttlMs ?? 5 * 60_000;
    this.now = options.now ?? Date.now;
  }

  /** Jobs held now (tests). */
  get size(): number {
    return this.held.size;
  }

  /** Remembers `job` if it completed (the row its completion's commit returned); any other status is ignored. */
  remember(job: Job): void {
    if (job.status !== 'completed' || job.outputs.length > this.maxOutputs) return;
    const modelChars = job.models.reduce((n, m) => n + m.name.length + MODEL_OVERHEAD_CHARS, 0);
    if (modelChars > this.maxModelChars) return;
    this.forget(job.id);
    this.outputs += job.outputs.length;
    this.modelChars += modelChars;
    this.held.set(job.id, { accountId: job.accountId, view: jobViewOf(job), modelChars, at: this.now() });
    while (
      this.held.size > this.maxJobs ||
      this.outputs > this.maxOutputs ||
      this.modelChars > this.maxModelChars
    ) {
      const oldest = this.held.keys().next();
      if (oldest.done === true) break;
      this.forget(oldest.value);
    }
  }

  /** Drops job `id` (if held) and its outputs from the count. */
  private forget(id: string): void {
    const held = this.held.get(id);
    if (held === undefined) return;
    this.outputs -= held.view.outputs.length;
    this.modelChars -= held.modelChars;
    this.held.delete(id);
  }

  /**
   * The outputs of job `id` when this replica completed it recently and it belongs to `accountId` and
   * `userId`; undefined otherwise (not held, expired, or another owner's: the store answers those).
   */
  outputsFor(accountId: string, userId: string, id: string): readonly JobOutput[] | undefined {
    return this.lookup(accountId, userId, id)?.outputs;
  }

  /** As outputsFor, the job's public view (what Store.getJobViewFor answers for it). */
  viewFor(accountId: string, userId: string, id: string): JobView | undefined {
    return this.lookup(accountId, userId, id);
  }

  private lookup(accountId: string, userId: string, id: string): JobView | undefined {
    const held = this.held.get(id);
    if (held === undefined) return undefined;
    if (this.now() - held.at >= this.ttlMs) {
      this.forget(id);
      return undefined;
    }
    if (held.accountId !== accountId || held.view.userId !== userId) return undefined;
    // Most recently used last: the least recently used job is the first evicted.
    this.held.delete(id);
    this.held.set(id, held);
    return held.view;
  }
}
