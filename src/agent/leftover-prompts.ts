/**
 * Job prompts left in an agent's ComfyUI queue by an earlier run: an agent process that crashed or was killed
 * mid-job gave nothing back, so its prompt still runs on ComfyUI (a separate process), its job stays leased to the
 * dead worker until the lease expires, and the first job the agent started in its place claims would wait behind
 * it there. Before it claims, whenever it gains its ComfyUI, the agent finds such prompts (ids made by
 * prompt-ids.ts) and asks the control plane about each (JobChannel.releaseLeftover), which gives the job back when
 * that attempt runs under this worker or under an earlier process of its slot that stopped renewing the lease:
 * - `released` or `stale` (that attempt no longer runs): the prompt is stopped (a queue delete or a targeted
 *   interrupt);
 * - `recent` (the slot's holder renewed the lease lately: it may be a second live agent of the slot): asked once
 *   more after the wait the answer names, then left alone if still `recent`;
 * - `held` (another slot's worker runs it: an agent sharing this ComfyUI): left alone.
 * Prompts Arrakis did not submit for a job (a person's, a model preload's) are never touched. A question that
 * fails (an outage, a control plane of the previous release, which answers 404) leaves its prompt alone and is
 * asked again before a later claim, at most every LEFTOVER_RETRY_MS, while job prompts remain in the queue.
 */
import type { ComfyServer, QueuedPrompt } from '../comfy/contract.js';
import { pause } from '../util/backoff.js';
import type { JobChannel, LeftoverAnswer } from '../workers/job-channel.js';
import type { AgentLog } from './agent-log.js';
import { parseJobPromptId } from './prompt-ids.js';

/** At most this many job prompts are looked at per pass (a broken ComfyUI could list thousands). */
export const MAX_LEFTOVERS = 32;
/** After a question failed, the pass runs again before a claim at most this often. */
export const LEFTOVER_RETRY_MS = 30_000;
/** The longest wait a `recent` answer is granted. */
const MAX_RECENT_WAIT_MS = 60_000;

interface Leftover {
  prompt: QueuedPrompt;
  jobId: string;
  attempt: number;
}

export class LeftoverPrompts {
  /** When the next pass is due after a failed question (null: none is). */
  private retryAt: number | null = null;
  private warnedTooMany = false;

  constructor(
    private readonly comfy: ComfyServer,
    private readonly channel: JobChannel,
    private readonly log: AgentLog,
    private readonly workerId: () => string | null,
    private readonly retryMs = LEFTOVER_RETRY_MS,
  ) {}

  /** Whether a pass is due again before this claim (a question of the last one failed). */
  get retryDue(): boolean {
    return this.retryAt !== null && Date.now() >= this.retryAt;
  }

  /** One pass over ComfyUI's queue; call it only while the agent runs no job. Never throws. */
  async settle(signal: AbortSignal): Promise<void> {
    this.retryAt = null;
    let found: QueuedPrompt[];
    try {
      found = await this.comfy.queuedPrompts();
    } catch (err) {
      this.log.warn({ workerId: this.workerId(), err: String(err) }, "could not read ComfyUI's queue");
      this.retryLater();
      return;
    }
    // The waiting ones first: ComfyUI starts the next waiting prompt as soon as a running one is interrupted,
    // and a queue delete no longer takes it back then.
    const leftovers = found
      .flatMap((prompt): Leftover[] => {
        const run = parseJobPromptId(prompt.promptId);
        return run === null ? [] : [{ prompt, ...run }];
      })
      .sort((a, b) => Number(a.prompt.state === 'running') - Number(b.prompt.state === 'running'));
    if (leftovers.length > MAX_LEFTOVERS && !this.warnedTooMany) {
      this.warnedTooMany = true;
      this.log.warn(
        { workerId: this.workerId(), found: leftovers.length, max: MAX_LEFTOVERS },
        'ComfyUI lists more job prompts than one pass looks at; the rest wait for a later pass',
      );
    }
    for (const leftover of leftovers.slice(0, MAX_LEFTOVERS)) {
      if (signal.aborted) return;
      await this.settleOne(leftover, signal);
    }
  }

  private async settleOne(leftover: Leftover, signal: AbortSignal): Promise<void> {
    const { prompt, jobId, attempt } = leftover;
    const details = {
      workerId: this.workerId(),
      jobId,
      attempt,
      promptId: prompt.promptId,
      state: prompt.state,
    };
    try {
      let answer: LeftoverAnswer = await this.channel.releaseLeftover(jobId, attempt);
      if (answer.outcome === 'recent') {
        await pause(Math.min(answer.retryAfterMs, MAX_RECENT_WAIT_MS), signal);
        if (signal.aborted) return;
        answer = await this.channel.releaseLeftover(jobId, attempt);
      }
      if (answer.outcome === 'held' || answer.outcome === 'recent') {
        this.log.info(
          { ...details, outcome: answer.outcome },
          'left a job prompt on ComfyUI: another agent runs it',
        );
        return;
      }
      await this.comfy.stopQueuedPrompt(prompt);
      this.log.warn(
        { ...details, outcome: answer.outcome },
        'stopped a job prompt left on ComfyUI by an earlier run',
      );
    } catch (err) {
      // Not knowing whose it is, the prompt is left alone, and asked about again later.
      this.log.warn({ ...details, err: String(err) }, 'could not settle a job prompt left on ComfyUI');
      this.retryLater();
    }
  }

  private retryLater(): void {
    this.retryAt = Date.now() + this.retryMs;
  }
}
