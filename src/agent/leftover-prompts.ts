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
 *   prompts (the longest the answers name, when at most MAX_RECENT_WAIT_MS). If the lease was renewed meanwhile
 *   (the time it would fall silent moved on), its holder is alive and its prompt is left alone. If not (the
 *   compare-and-set lost a race, or the answer named a longer wait than a pass makes, as with leases over about
 *   90 s), a later pass asks again when it falls silent;
 * - `held` (another slot's worker runs it: an agent sharing this ComfyUI): left alone.
 * Each round's decided prompts are stopped right after the round (before the wait), also when a later question
 * of the round fails, following the queue as read again, waiting prompts first (ComfyUI starts the next waiting
 * prompt as soon as a running one is interrupted, and a queue delete no longer takes it back then), and a
 * waiting prompt that started meanwhile is interrupted after all. Prompts Arrakis did not submit for a job (a
 * person's, a model preload's) are never touched. A question that fails (an outage, a control plane of the
 * previous release, which answers 404) ends the pass, and a later pass runs before a claim at most every
 * LEFTOVER_RETRY_MS while job prompts remain in the queue.
 */
import type { ComfyServer, QueuedPrompt } from '../comfy/contract.js';
import { pause } from '../util/backoff.js';
import type { JobChannel } from '../workers/job-channel.js';
import type { AgentLog } from './agent-log.js';
import { parseJobPromptId } from './prompt-ids.js';

/** At most this many job prompts are looked at per pass (a broken ComfyUI could list thousands). */
export const MAX_LEFTOVERS = 32;
/** After a question failed, a later pass runs before a claim at most this often. */
export const LEFTOVER_RETRY_MS = 30_000;
/** The longest one pass waits for `recent` answers. */
export const MAX_RECENT_WAIT_MS = 60_000;
/**
 * A second answer whose silence lies this much later than the first's saw a renewal: the holder is alive. A
 * renewal moves it by the renewal interval (10 s of a 30 s lease); the slack absorbs the two answers' different
 * round trips.
 */
const RENEWED_SLACK_MS = 1_000;

interface Leftover {
  promptId: string;
  jobId: string;
  attempt: number;
}

/** A `recent` answer: when the lease would fall silent, as the answer said (ms, this agent's clock). */
interface Recent {
  leftover: Leftover;
  silentAt: number;
}

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
      const recent = await this.round(leftovers, signal);
      const waitable = recent.filter((r) => r.silentAt - Date.now() <= MAX_RECENT_WAIT_MS);
      // Answers naming a longer wait than a pass makes are asked about again at a later pass.
      for (const r of recent) if (!waitable.includes(r)) this.retryAt = this.earliest(r.silentAt);
      if (waitable.length === 0) return;
      await pause(Math.max(...waitable.map((r) => r.silentAt)) - Date.now(), signal);
      if (signal.aborted) return;
      const again = await this.round(
        waitable.map((r) => r.leftover),
        signal,
      );
      for (const r of again) {
        const before = waitable.find((w) => w.leftover === r.leftover)?.silentAt ?? 0;
        if (r.silentAt > before + RENEWED_SLACK_MS) {
          this.log.info(
            { workerId: this.workerId(), ...r.leftover },
            'left a job prompt on ComfyUI: its holder renews the lease',
          );
        } else {
          this.retryAt = this.earliest(r.silentAt);
        }
      }
    } catch (err) {
      if (signal.aborted) return;
      // Not knowing whose a prompt is, it is left alone, and asked about again at a later pass.
      this.log.warn(
        { workerId: this.workerId(), err: String(err) },
        'could not settle the job prompts left on ComfyUI',
      );
      this.retryAt = this.earliest(Date.now() + this.retryMs);
    }
  }

  private earliest(at: number): number {
    return this.retryAt === null ? at : Math.min(this.retryAt, at);
  }

  private jobPrompts(queue: QueuedPrompt[]): Leftover[] {
    const leftovers = queue.flatMap((prompt): Leftover[] => {
      const run = parseJobPromptId(prompt.promptId);
      return run === null ? [] : [{ promptId: prompt.promptId, ...run }];
    });
    if (leftovers.length > MAX_LEFTOVERS) {
      this.retryAt = this.earliest(Date.now() + this.retryMs);
      if (!this.warnedTooMany) {
        this.warnedTooMany = true;
        this.log.warn(
          { workerId: this.workerId(), found: leftovers.length, max: MAX_LEFTOVERS },
          'ComfyUI lists more job prompts than one pass looks at; the rest wait for a later pass',
        );
      }
    }
    return leftovers.slice(0, MAX_LEFTOVERS);
  }

  /**
   * Asks about each prompt, then stops the ones to stop (also when a question fails, which then throws).
   * Returns the `recent` ones.
   */
  private async round(leftovers: Leftover[], signal: AbortSignal): Promise<Recent[]> {
    const toStop: Leftover[] = [];
    const recent: Recent[] = [];
    try {
      for (const leftover of leftovers) {
        const answer = await this.channel.releaseLeftover(leftover.jobId, leftover.attempt, signal);
        const details = { workerId: this.workerId(), ...leftover, outcome: answer.outcome };
        if (answer.outcome === 'recent') {
          recent.push({ leftover, silentAt: Date.now() + answer.retryAfterMs });
        } else if (answer.outcome === 'held') {
          this.log.info(details, 'left a job prompt on ComfyUI: another agent runs it');
        } else {
          toStop.push(leftover);
        }
      }
    } finally {
      if (toStop.length > 0) await this.stop(toStop);
    }
    return recent;
  }

  /**
   * Stops the prompts as they stand in the queue now, waiting ones first; then interrupts any of them that
   * started running meanwhile (its queue delete came too late).
   */
  private async stop(toStop: Leftover[]): Promise<void> {
    const wanted = new Map(toStop.map((l) => [l.promptId, l]));
    const standing = async (): Promise<QueuedPrompt[]> =>
      (await this.comfy.queuedPrompts()).filter((p) => wanted.has(p.promptId));
    const now = await standing();
    now.sort((a, b) => Number(a.state === 'running') - Number(b.state === 'running'));
    for (const prompt of now) {
      await this.comfy.stopQueuedPrompt(prompt);
      this.log.warn(
        { workerId: this.workerId(), ...wanted.get(prompt.promptId), state: prompt.state },
        'stopped a job prompt left on ComfyUI by an earlier run',
      );
    }
    const deleted = new Set(now.filter((p) => p.state === 'pending').map((p) => p.promptId));
    if (deleted.size === 0) return;
    for (const prompt of await standing()) {
      if (prompt.state === 'running' && deleted.has(prompt.promptId))
        await this.comfy.stopQueuedPrompt(prompt);
    }
  }
}
