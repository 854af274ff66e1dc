/**
 * Job prompts left in an agent's ComfyUI queue by an earlier run: an agent process that crashed or was killed
 * mid-job gave nothing back, so its prompt still runs on ComfyUI (a separate process), its job stays leased to the
 * dead worker until the lease expires, and the first job the agent started in its place claims would wait behind
 * it there. Before it claims, whenever it gains its ComfyUI, the agent finds such prompts (ids made by
 * prompt-ids.ts) and asks the control plane about each (JobChannel.releaseLeftover), which gives the job back when
 * that attempt runs under this worker or an earlier process of its slot and the lease has gone unrenewed:
 * - `released` or `stale` (that attempt no longer runs): the prompt is stopped (a queue delete or a targeted
 *   interrupt);
 * - `recent` (the lease was renewed lately: its holder may be alive): asked once more after one wait for all such
 *   prompts (the longest the answers name, at most MAX_RECENT_WAIT_MS). Still `recent` after the whole wait, the
 *   holder renewed meanwhile, so it is alive: its prompt is left alone. Still `recent` because the wait was cut
 *   short (a lease longer than about three minutes), it is asked again at a later pass;
 * - `held` (another slot's worker runs it: an agent sharing this ComfyUI): left alone.
 * Every question is answered before any prompt is stopped, and the stops then follow the queue as read again,
 * waiting prompts first (ComfyUI starts the next waiting prompt as soon as a running one is interrupted, and a
 * queue delete no longer takes it back then). Prompts Arrakis did not submit for a job (a person's, a model
 * preload's) are never touched. A question that fails (an outage, a control plane of the previous release, which
 * answers 404) ends the pass with nothing more stopped, and a later pass runs before a claim at most every
 * LEFTOVER_RETRY_MS while job prompts remain in the queue.
 */
import type { ComfyServer, QueuedPrompt } from '../comfy/contract.js';
import { pause } from '../util/backoff.js';
import type { JobChannel, LeftoverAnswer } from '../workers/job-channel.js';
import type { AgentLog } from './agent-log.js';
import { parseJobPromptId } from './prompt-ids.js';

/** At most this many job prompts are looked at per pass (a broken ComfyUI could list thousands). */
export const MAX_LEFTOVERS = 32;
/** After a question failed (or a wait was cut short), a later pass runs before a claim at most this often. */
export const LEFTOVER_RETRY_MS = 30_000;
/** The longest one pass waits for `recent` answers. */
export const MAX_RECENT_WAIT_MS = 60_000;

interface Leftover {
  promptId: string;
  jobId: string;
  attempt: number;
}

type Decision = 'stop' | 'leave' | 'later';

export class LeftoverPrompts {
  /** When the next pass is due (null: none is). */
  private retryAt: number | null = null;
  private warnedTooMany = false;

  constructor(
    private readonly comfy: ComfyServer,
    private readonly channel: JobChannel,
    private readonly log: AgentLog,
    private readonly workerId: () => string | null,
    private readonly retryMs = LEFTOVER_RETRY_MS,
  ) {}

  /** Whether a pass is due again before this claim (the last one left a question open). */
  get retryDue(): boolean {
    return this.retryAt !== null && Date.now() >= this.retryAt;
  }

  /** One pass over ComfyUI's queue; call it only while the agent runs no job. Never throws. */
  async settle(signal: AbortSignal): Promise<void> {
    this.retryAt = null;
    try {
      const leftovers = this.jobPrompts(await this.comfy.queuedPrompts());
      const decided = await this.decide(leftovers, signal);
      if (decided === null || signal.aborted) return;
      await this.stop(decided);
    } catch (err) {
      // Not knowing whose a prompt is, it is left alone, and asked about again at a later pass.
      this.log.warn(
        { workerId: this.workerId(), err: String(err) },
        'could not settle the job prompts left on ComfyUI',
      );
      this.retryLater();
    }
  }

  private jobPrompts(queue: QueuedPrompt[]): Leftover[] {
    const leftovers = queue.flatMap((prompt): Leftover[] => {
      const run = parseJobPromptId(prompt.promptId);
      return run === null ? [] : [{ promptId: prompt.promptId, ...run }];
    });
    if (leftovers.length > MAX_LEFTOVERS && !this.warnedTooMany) {
      this.warnedTooMany = true;
      this.log.warn(
        { workerId: this.workerId(), found: leftovers.length, max: MAX_LEFTOVERS },
        'ComfyUI lists more job prompts than one pass looks at; the rest wait for a later pass',
      );
    }
    return leftovers.slice(0, MAX_LEFTOVERS);
  }

  /** The prompts to stop, once every question is answered; null when the pass ended early (a stop). */
  private async decide(leftovers: Leftover[], signal: AbortSignal): Promise<Leftover[] | null> {
    const ask = (l: Leftover): Promise<LeftoverAnswer> =>
      this.channel.releaseLeftover(l.jobId, l.attempt, signal);
    const toStop: Leftover[] = [];
    const recent: Array<{ leftover: Leftover; retryAfterMs: number }> = [];
    for (const leftover of leftovers) {
      const answer = await ask(leftover);
      if (answer.outcome === 'recent') recent.push({ leftover, retryAfterMs: answer.retryAfterMs });
      else if (this.decision(leftover, answer, false) === 'stop') toStop.push(leftover);
    }
    if (recent.length > 0) {
      const longest = Math.max(...recent.map((r) => r.retryAfterMs));
      const waitMs = Math.min(longest, MAX_RECENT_WAIT_MS);
      await pause(waitMs, signal);
      if (signal.aborted) return null;
      for (const { leftover, retryAfterMs } of recent) {
        const decision = this.decision(leftover, await ask(leftover), retryAfterMs > waitMs);
        if (decision === 'stop') toStop.push(leftover);
        else if (decision === 'later') this.retryLater();
      }
    }
    return toStop;
  }

  /** What to do with a prompt after `answer` (`cutShort`: the wait before it was shorter than asked). */
  private decision(leftover: Leftover, answer: LeftoverAnswer, cutShort: boolean): Decision {
    const details = { workerId: this.workerId(), ...leftover, outcome: answer.outcome };
    if (answer.outcome === 'released' || answer.outcome === 'stale') return 'stop';
    if (answer.outcome === 'recent' && cutShort) return 'later';
    this.log.info(details, 'left a job prompt on ComfyUI: another agent runs it');
    return 'leave';
  }

  /** Stops the prompts as they stand in the queue now, waiting ones first. */
  private async stop(toStop: Leftover[]): Promise<void> {
    if (toStop.length === 0) return;
    const wanted = new Map(toStop.map((l) => [l.promptId, l]));
    const now = (await this.comfy.queuedPrompts()).filter((p) => wanted.has(p.promptId));
    now.sort((a, b) => Number(a.state === 'running') - Number(b.state === 'running'));
    for (const prompt of now) {
      await this.comfy.stopQueuedPrompt(prompt);
      this.log.warn(
        { workerId: this.workerId(), ...wanted.get(prompt.promptId), state: prompt.state },
        'stopped a job prompt left on ComfyUI by an earlier run',
      );
    }
  }

  private retryLater(): void {
    this.retryAt = Date.now() + this.retryMs;
  }
}
